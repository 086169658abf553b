"""Ranking scores for top-N from the fitted neighbourhoods, and their explanations.

Predicted ratings make poor lists (an obscure item with one enthusiastic neighbour wins), so
top-N uses a separate score. Item-based, with ``N_k(j)`` the ``k`` items most similar to the
candidate j by the support-shrunk similarity ``sim(j, i) * freq_ji / (freq_ji + lambda)``
(``freq_ji`` common raters, ``lambda = rank_shrinkage``; ties by smaller index; ``rank_``):

    score(u, j) = sum_{i in I_u, i in N_k(j)} sim(j, i) * freq_ji / (freq_ji + lambda) * w_ui

where ``w_ui`` is set by ``rank_weight``: ``"rating"`` ``r_ui`` (default), ``"binary"`` 1 or
``"centered"`` ``r_ui - mu_u`` (the user's mean). User-based, symmetrically:
``score(u, j) = sum_{v in N_k(u), v rated j} ... * w_vj``. A candidate with no rated item among
its neighbours has no evidence: NaN (the hybrid's fallback fills it).

Why this score: on ML-100k the ``"rating"`` weight ranks best for every similarity, and
shrinkage is essential (raw co-rating similarities rank pairs with one common rater first: msd
and cosine give them 1.0, so without shrinkage the lists are noise). ``rank_shrinkage`` 100 is
Surprise's own shrinkage default; larger values looked better only on the test split, so they
were not adopted. The NDCG@10 table is in ``docs/benchmarks.md`` ("models/knn/ranking").

An explanation lists, for a recommended (u, j), the rated items i with the largest positive
terms of ``score(u, j)`` (user-based: the neighbours v with the largest terms).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import RatingData
from recsys_core.models.knn.corating import aligned
from recsys_core.models.knn.neighbors import pair_chunks, top_k_mask
from recsys_core.models.knn.options import KNNParams


class FittedKNN(Protocol):
    """What the ranking scores read from a fitted KNN model (:class:`KNNBase` of
    :mod:`recsys_core.models.knn.predictors`, named here structurally so that module can import
    this one without a cycle)."""

    params: KNNParams
    rank_: sp.csr_matrix
    cache_: dict[str, sp.csr_matrix]

    @property
    def data(self) -> RatingData: ...


def weights(model: FittedKNN, user_items: sp.csr_matrix) -> sp.csr_matrix:
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


def neighbor_matrix(model: FittedKNN) -> sp.csr_matrix:
    """Row x lists the x' whose evidence flows to x, with their weights: ``rank_`` itself
    (``rank_neighbors="candidate"``: the candidate's own top k) or its transpose (``"rated"``:
    each rated item passes evidence to its top k)."""
    cache = model.cache_
    if "nbr" not in cache:
        rated = model.params.rank_neighbors == "rated"
        cache["nbr"] = model.rank_.T.tocsr() if rated else model.rank_
    return cache["nbr"]


def score_operands(model: FittedKNN, users: np.ndarray):
    """``(left, right, right_pattern)`` with ``scores = left @ right`` for a block of users."""
    m, cache, nbr = model.data.user_items, model.cache_, neighbor_matrix(model)
    if model.params.sim_options.user_based:
        if "w" not in cache:
            cache["w"] = weights(model, m)
            cache["w1"] = pattern_of(cache["w"])
        return nbr[users], cache["w"], cache["w1"]
    if "t" not in cache:
        cache["t"] = nbr.T.tocsr()
        cache["t1"] = pattern_of(cache["t"])
    return weights(model, m[users]), cache["t"], cache["t1"]


def sparse_scores(model: FittedKNN, users: np.ndarray, ordered: bool = True) -> sp.csr_matrix:
    """Ranking scores of a block of users on their evidence pattern (b x n_items CSR; sorted
    indices if ``ordered``): an entry exists where a term contributes, even if the sum is 0."""
    left, right, right1 = score_operands(model, users)
    scores = left @ right
    if not ((left.data > 0).all() and (right.data > 0).all()):
        pattern = pattern_of(left) @ right1  # with terms of both signs a sum can cancel to 0
        scores = sp.csr_matrix(
            (aligned(pattern, scores), pattern.indices, pattern.indptr), shape=pattern.shape
        )
    if ordered:
        scores.sort_indices()
    return scores


def rank_scores(model: FittedKNN, users: np.ndarray) -> np.ndarray:
    """Ranking scores for a block of user indices (b x n_items; NaN = no evidence)."""
    scores = sparse_scores(model, users, ordered=False)
    out = np.full(scores.shape, np.nan)
    out[np.repeat(np.arange(len(users)), np.diff(scores.indptr)), scores.indices] = scores.data
    return out


def explain_rows(model: FittedKNN, recs: pl.DataFrame, n: int = 3) -> pl.DataFrame:
    """``recs`` with a ``because`` list column: the most contributing rated items (or users)."""
    data = model.data
    u, i = data.index_pairs(recs)
    known = np.flatnonzero((u >= 0) & (i >= 0))
    user_based = model.params.sim_options.user_based
    x, y = (u[known], i[known]) if user_based else (i[known], u[known])
    w = weights(model, data.user_items)
    yx = w.T.tocsr() if user_based else w
    seg_all, col_all, val_all = [], [], []
    for ent in pair_chunks(neighbor_matrix(model), yx, x, y):
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


def pattern_of(m: sp.csr_matrix) -> sp.csr_matrix:
    """The 0/1 pattern of ``m``."""
    return sp.csr_matrix((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
