"""Per-run configuration of the assets (editable in the Dagster launchpad)."""

import dagster as dg
from pydantic import Field


class IngestConfig(dg.Config):
    """How raw files are read and how much bad input is tolerated."""

    line_format: str | None = Field(
        None, description="e.g. 'user item rating timestamp'; None = detect"
    )
    sep: str | None = Field(None, description="field separator; None = detect per file")
    rating_scale: list[float] = Field([1.0, 5.0], description="[lowest, highest] valid rating")
    skip_lines: int = Field(0, description="lines skipped at the top of each text file")
    max_bad_fraction: float = Field(0.05, description="fail when more rows than this are bad")


class SplitConfig(dg.Config):
    """The evaluation split: seeded random hold-out."""

    test_fraction: float = 0.2
    random_state: int = 42


class EvaluationConfig(dg.Config):
    """Ranking metrics at ``k`` with relevance = test rating >= ``threshold``."""

    k: int = 10
    threshold: float = 4.0


class TopNConfig(dg.Config):
    """Length of each user's published list."""

    n: int = Field(10, ge=1, description="items per user (fewer only if fewer candidates)")
