"""The scorer: what every model and the blend provide to the ranker.

A scorer maps a block of ``b`` user indices to a new float array of ``b x n_items`` scores,
higher is better, with NaN where it cannot score (no evidence, unknown item); never +-inf.
Row ``r`` depends only on ``users[r]``: a block in any order, or one user at a time, gives the
same rows. Every :class:`recsys_core.models.base.Recommender` satisfies it with
``score_users``; the shared contract in ``tests/contract.py`` checks it.

The fold-in path (:class:`FoldInScorer`): ``for_users(users, user_items)`` gives the same fitted
scorer over a block of users given by their rating rows instead of stored indices, item-side
parameters untouched; its ``score_users(np.arange(len(users)))`` are their scores. A row equal to
a fitted user's row scores as that user (iALS: factors re-solved against the fixed item
factors). This is how lists are refreshed between nights (:mod:`recsys_core.ranking.refresh`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from recsys_core.data.ids import IdIndex

ScoreBlock = Callable[[np.ndarray], np.ndarray]
"""A bound ``score_users``: user indices (length b) to scores (b x n_items).

It returns a fresh array (the ranker masks it in place) or a read-only view (then copied)."""


@runtime_checkable
class Scorer(Protocol):
    """Anything with ``score_users`` (see the module docstring)."""

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores (b x n_items; NaN = cannot score) for a block of user indices."""
        ...


@runtime_checkable
class FoldInScorer(Scorer, Protocol):
    """A scorer that can serve users given by their rating rows (see the module docstring)."""

    def for_users(self, users: IdIndex, user_items: sp.csr_matrix) -> FoldInScorer:
        """The same fitted scorer over ``users`` (their ratings: ``len(users) x n_items``)."""
        ...
