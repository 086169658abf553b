"""The library's small error vocabulary."""

from __future__ import annotations


class RecsysError(Exception):
    """Base class of every error raised on purpose by recsys_core."""


class DataError(RecsysError, ValueError):
    """Input data is broken: unreadable file, too many bad rows, wrong columns."""


class ConfigError(RecsysError, ValueError):
    """A configuration key is unknown or a value is invalid; the message names it."""


class NotFittedError(RecsysError, RuntimeError):
    """A model was used before ``fit`` (or ``load``)."""


class DataWarning(UserWarning):
    """Suspicious but usable data (e.g. rows sent to quarantine)."""
