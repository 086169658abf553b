"""The hybrid: blended ranking scores (scorer) -> popularity fill (fallback) -> top-N (ranker)."""
