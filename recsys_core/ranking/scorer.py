"""The scorer: what every model and the blend provide to the ranker.

A scorer maps a block of ``b`` user indices to a new float array of ``b x n_items`` scores,
higher is better, with NaN where it cannot score (no evidence, unknown item); never +-inf.
Row ``r`` depends only on ``users[r]``: a block in any order, or one user at a time, gives the
same rows. Every :class:`recsys_core.models.base.Recommender` satisfies it with
``score_users``; the shared contract in ``tests/contract.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

ScoreBlock = Callable[[np.ndarray], np.ndarray]
"""A bound ``score_users``: user indices (length b) to scores (b x n_items).

It returns a fresh array (the ranker masks it in place) or a read-only view (then copied)."""


@runtime_checkable
class Scorer(Protocol):
    """Anything with ``score_users`` (see the module docstring)."""

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores (b x n_items; NaN = cannot score) for a block of user indices."""
        ...
