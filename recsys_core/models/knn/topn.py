"""Top-N lists of the KNN models from their ranking scores, sparse when that is cheaper.

The lists are those of :func:`recsys_core.ranking.topn.block_topn` on
:func:`recsys_core.models.knn.ranking.rank_scores` (higher score first, ties by smaller item
index, rated items and items without evidence excluded). Two ways to get them:

- dense: score a block of users against the whole catalogue, then a partial top-n per row;
- sparse: keep only the (user, item) scores that have evidence and select among those.

The number of terms per user (``sum over the user's evidence of the neighbour-list lengths``)
decides: when it reaches a quarter of the catalogue the dense blocks are cheaper (every item gets
evidence anyway, as with ML-1M and candidate neighbourhoods); otherwise the sparse path's work
follows the neighbourhoods, not the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recsys_core.models.knn.neighbors import top_k_mask
from recsys_core.models.knn.ranking import pattern_of, rank_scores, score_operands, sparse_scores
from recsys_core.ranking.topn import TopN, block_topn

if TYPE_CHECKING:
    from recsys_core.models.knn.predictors import KNNBase

TOPN_BUDGET = 1 << 20
"""Scores held per block of users (sparse candidates, or users x items when dense)."""


def knn_topn(
    model: KNNBase, users: np.ndarray, n: int, block_size: int | None, path: str | None = None
) -> TopN:
    """Top-``n`` unseen items per user index in ``users`` (see the module docstring).

    ``path`` forces ``"dense"`` or ``"sparse"`` (None: chosen by cost); the lists are the same.
    """
    seen = model.data.user_items
    cost = _terms_per_user(model, users)
    if path is None:
        path = "dense" if len(users) and 4 * cost.mean() >= seen.shape[1] else "sparse"
    if path == "dense":
        size = block_size or max(1, TOPN_BUDGET // seen.shape[1])
        return block_topn(partial(rank_scores, model), seen, users, n, size)
    parts = [_sparse_block(model, block, n) for block in _blocks(users, cost, block_size)]
    return TopN.concat(parts)


def _sparse_block(model: KNNBase, block: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    scores = sparse_scores(model, block)
    rows = np.repeat(np.arange(len(block)), np.diff(scores.indptr))
    cols, vals = scores.indices, scores.data
    keep = ~_rated(model.data.user_items[block], rows, cols)
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    top = top_k_mask(rows, vals, len(block), n)
    rows, cols, vals = rows[top], cols[top], vals[top]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    ranks = np.arange(len(rows)) - np.searchsorted(rows, rows) + 1
    return block[rows].astype(np.int64), ranks.astype(np.int64), cols.astype(np.int64), vals


def _rated(rated: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether each (row, col) is an entry of ``rated`` (CSR with sorted indices)."""
    if rated.nnz == 0:
        return np.zeros(len(rows), dtype=bool)
    n = rated.shape[1]
    keys = np.repeat(np.arange(rated.shape[0], dtype=np.int64), np.diff(rated.indptr)) * n
    keys += rated.indices  # ascending: rows in order, sorted indices
    wanted = rows.astype(np.int64) * n + cols
    pos = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
    return keys[pos] == wanted


def _terms_per_user(model: KNNBase, users: np.ndarray) -> np.ndarray:
    """Upper bound of the scores with evidence per user (terms of its product row)."""
    left, right, _ = score_operands(model, users)
    return pattern_of(left) @ np.diff(right.indptr).astype(np.float64)


def _blocks(users: np.ndarray, cost: np.ndarray, block_size: int | None) -> Iterator[np.ndarray]:
    """Consecutive blocks of ``users`` of about ``TOPN_BUDGET`` terms (and <= ``block_size``)."""
    cum = np.cumsum(cost)
    start = 0
    while start < len(users):
        before = cum[start - 1] if start else 0.0
        stop = max(start + 1, int(np.searchsorted(cum, before + TOPN_BUDGET, side="right")))
        if block_size:
            stop = min(stop, start + block_size)
        yield users[start:stop]
        start = stop
