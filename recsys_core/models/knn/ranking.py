"""Ranking scores for top-N from the fitted neighbourhoods, and their explanations.

Predicted ratings make poor lists (an obscure item with one enthusiastic neighbour wins), so
top-N uses a separate score. Item-based, with ``N_k(j)`` the ``k`` items most similar to the
candidate j (largest similarities, ties by smaller index; the ``rank_`` matrix):

    score(u, j) = sum_{i in I_u, i in N_k(j)} sim(j, i) * w_ui

where ``w_ui`` is set by ``rank_weight``: ``"centered"`` ``r_ui - mu_u`` (the user's rating
minus the user's mean: items the user liked more than usual pull their neighbours up, disliked
ones push them down), ``"rating"`` ``r_ui`` or ``"binary"`` 1. User-based, symmetrically:
``score(u, j) = sum_{v in N_k(u), v rated j} sim(u, v) * w_vj``. A candidate with no rated item
among its neighbours has no evidence: NaN (the hybrid's fallback fills it).

An explanation lists, for a recommended (u, j), the rated items i with the largest positive
terms ``sim(j, i) * w_ui`` (user-based: the neighbours v with the largest terms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.models.knn.neighbors import pair_chunks, top_k_mask

if TYPE_CHECKING:
    from recsys_core.models.knn.predictors import KNNBase


def weights(model: KNNBase, user_items: sp.csr_matrix) -> sp.csr_matrix:
    """``w_ui`` on the pattern of ``user_items`` (rows = users), per ``rank_weight``."""
    kind = model.params.rank_weight
    data = user_items.data
    if kind == "binary":
        data = np.ones_like(data)
    elif kind == "centered":
        counts = np.diff(user_items.indptr)
        rows = np.repeat(np.arange(user_items.shape[0]), counts)
        user_mean = np.bincount(rows, weights=data, minlength=len(counts)) / np.maximum(counts, 1)
        data = data - user_mean[rows]
    return sp.csr_matrix((data, user_items.indices, user_items.indptr), shape=user_items.shape)


def rank_scores(model: KNNBase, users: np.ndarray) -> np.ndarray:
    """Ranking scores for a block of user indices (b x n_items; NaN = no evidence)."""
    m, cache = model.data.user_items, model.rank_cache_
    if model.params.sim_options.user_based:
        if "w" not in cache:
            cache["w"] = weights(model, m)
            cache["w1"] = _ones(cache["w"])
        left, right, right1 = model.rank_[users], cache["w"], cache["w1"]
    else:
        if "t" not in cache:
            cache["t"] = model.rank_.T.tocsr()
            cache["t1"] = _ones(cache["t"])
        left, right, right1 = weights(model, m[users]), cache["t"], cache["t1"]
    scores = (left @ right).toarray()
    if (left.data > 0).all() and (right.data > 0).all():
        evidence = scores  # positive terms only: a zero sum means no term
    else:
        evidence = (_ones(left) @ right1).toarray()
    scores[evidence == 0] = np.nan
    return scores


def explain_rows(model: KNNBase, recs: pl.DataFrame, n: int = 3) -> pl.DataFrame:
    """``recs`` with a ``because`` list column: the most contributing rated items (or users)."""
    data = model.data
    u, i = data.index_pairs(recs)
    known = np.flatnonzero((u >= 0) & (i >= 0))
    user_based = model.params.sim_options.user_based
    x, y = (u[known], i[known]) if user_based else (i[known], u[known])
    w = weights(model, data.user_items)
    yx = w.T.tocsr() if user_based else w
    seg_all, col_all, val_all = [], [], []
    for ent in pair_chunks(model.rank_, yx, x, y):
        contrib = ent.sims * ent.values
        pos = contrib > 0
        seg, cols, contrib = ent.seg[pos], ent.cols[pos], contrib[pos]
        top = top_k_mask(seg, contrib, len(ent.pairs), n)
        seg_all.append(known[ent.pairs][seg[top]])
        col_all.append(cols[top])
        val_all.append(contrib[top])
    rows, cols, vals = (
        np.concatenate(a) if a else np.empty(0) for a in (seg_all, col_all, val_all)
    )
    order = np.lexsort((cols, -vals, rows))
    rows, cols = rows[order].astype(np.int64), cols[order].astype(np.int64)
    ids = data.users.raw(cols) if user_based else data.items.raw(cols)
    lists = (
        pl.DataFrame({"row": rows, "id": ids})
        .group_by("row", maintain_order=True)
        .agg(pl.col("id").alias("because"))
    )
    frame = pl.DataFrame({"row": np.arange(recs.height, dtype=np.int64)})
    because = frame.join(lists, on="row", how="left").get_column("because")
    return recs.with_columns(because.fill_null(pl.lit([], dtype=because.dtype)))


def _ones(m: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
