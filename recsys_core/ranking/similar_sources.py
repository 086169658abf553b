"""Where similar items' model rows come from: a fitted item-item model, read a block at a time.

Each source turns a block of item indices into full-catalogue rows of scores (NaN: not a
neighbour the model knows); :mod:`recsys_core.ranking.similar` keeps each row's best positive
ones and fills the rest with its co-rater fallback. The sources and why each is used are in
that module's docstring.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_core.models.base import Recommender
from recsys_core.models.mf.factors import rows_times

__all__ = ["Rows", "item_model_source", "model_rows"]

Rows = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(block of item indices, which of them may get model rows) -> (positions in the block that
got rows, their ``len x n_items`` float64 scores)."""


def item_model_source(model: Recommender) -> str | None:
    """``"ease"``, ``"item_knn"`` or ``"ials"`` when ``model`` carries item-item scores, else
    None."""
    from recsys_core.models.ease import EASE
    from recsys_core.models.ials import IALS
    from recsys_core.models.knn import KNNBase

    if isinstance(model, EASE):
        return "ease"
    if isinstance(model, KNNBase) and not model.params.sim_options.user_based:
        return "item_knn"
    if isinstance(model, IALS):
        return "ials"
    return None


def model_rows(model: Recommender) -> Rows:
    """The row reader of ``model``'s source (see :func:`item_model_source`)."""
    source = item_model_source(model)
    if source == "ease":
        return _ease_rows(model)
    if source == "item_knn":
        return _knn_rows(model)
    return _factor_rows(model)


def _ease_rows(model) -> Rows:
    """Rows of ``B`` (full catalogue width) for the block's items inside ``items_``."""
    n_items = model.data.n_items
    pos = np.full(n_items, -1, dtype=np.int64)
    pos[model.items_] = np.arange(len(model.items_))

    def rows(block: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        live = np.flatnonzero(allowed & (pos[block] >= 0))
        out = np.full((len(live), n_items), np.nan)
        out[:, model.items_] = model.B_[pos[block[live]]]
        return live, out

    return rows


def _knn_rows(model) -> Rows:
    """Rows of the KNN's ranking neighbourhoods for the block's items that have any (absent
    entries are NaN)."""
    rank = model.rank_.tocsr()

    def rows(block: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        live = np.flatnonzero(allowed & (np.diff(rank.indptr)[block] > 0))
        sub = rank[block[live]]
        out = np.full(sub.shape, np.nan)
        r = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
        out[r, sub.indices] = sub.data
        return live, out

    return rows


def _factor_rows(model) -> Rows:
    """``q_i . q_j`` for the block's items against every item (iALS's item factors), float64
    products: a row does not depend on which other items share its block."""
    factors = np.asarray(model.item_factors_, dtype=np.float64)
    right = np.ascontiguousarray(factors.T)

    def rows(block: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        live = np.flatnonzero(allowed)
        return live, rows_times(factors, block[live], right)

    return rows
