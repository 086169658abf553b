"""Data in: readers, validation and quarantine, id mapping, splits, synthetic data."""
