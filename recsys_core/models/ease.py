"""EASE: an item x item linear autoencoder with a closed form (Steck 2019)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from recsys_core.data.ids import RatingData
from recsys_core.errors import DataError
from recsys_core.memory import require_memory
from recsys_core.models.base import Recommender
from recsys_core.models.mf.factors import ROW_TILE
from recsys_core.models.signal import signal_matrix
from recsys_core.params import Params

__all__ = ["EASE", "EASEParams", "ease_weights", "gram_matrix", "weights_from_gram"]

EXPLAIN_PAIRS = 1 << 22
"""(list row, rated item) pairs :meth:`EASE.explain` holds at once (~100 MiB of temporaries)."""

# ONE_THREAD: EASE's float32 Cholesky and products run on one BLAS thread. How a sum is split
# across threads changes the last bits of float32 results, so the published scores would depend
# on OPENBLAS_NUM_THREADS; and on 2 shared cores a second thread made the fit 1.8-3.8x slower
# (docs/benchmarks.md).
SYMMETRISE_ROWS = 1024
"""Rows per step when copying the inverse's upper triangle to its lower one (no n x n temp)."""


class EASEParams(Params):
    """Hyperparameters of :class:`EASE`."""

    reg: float = Field(default=200.0, gt=0)
    """``lambda``: the ridge added to the diagonal of ``X^T X``. It is an absolute value in the
    units of the signal (a ``graded`` item's diagonal is ``sum_u w_ui^2``). Chosen per night on
    validation (:mod:`recsys_core.evaluation.select`); the default is the ML-100k optimum."""

    signal: Literal["graded", "binary", "confidence"] = "graded"
    """How ratings become ``X`` (:mod:`recsys_core.models.signal`)."""

    low_weight: float = Field(default=0.5, ge=0, le=1)
    """``graded``: the weight of a rating below ``threshold`` (a rating at or above it is 1)."""

    threshold: float = 4.0
    """``graded``: ratings at or above it are relevant (weight 1)."""

    max_items: int = Field(default=15_000, ge=1)
    """Memory guard. Fitting peaks at ~12 bytes per ``m x m`` entry (``m`` = items used: the
    sparse ``X^T X`` while it becomes the dense float32 matrix that is inverted in place); the
    fitted ``B`` is 4 bytes per entry. Above this many catalogue items EASE runs on the
    ``max_items`` most-rated items only; the others get NaN (cannot score) and the hybrid's
    fallback fills them. 15,000 items: ~2.5 GiB while fitting, 0.84 GiB fitted."""


def ease_weights(x: sp.csr_matrix, reg: float) -> np.ndarray:
    """``B = I - P diag(1 / diag P)`` with ``P = (X^T X + reg I)^-1``, float32, zero diagonal.

    ``P`` comes from a Cholesky factorisation (LAPACK ``spotrf`` then ``spotri``, in place);
    ``B_ij = -P_ij / P_jj`` off the diagonal. Peak memory: ~12 bytes per ``m x m`` entry.
    """
    return weights_from_gram(gram_matrix(x), reg, overwrite=True)


def gram_matrix(x: sp.csr_matrix) -> np.ndarray:
    """``X^T X`` as a dense float32 ``m x m`` array (computed once per signal when several
    ``reg`` are tried: :meth:`EASE.fitter`)."""
    return np.asarray((x.T @ x).toarray(), dtype=np.float32)  # no copy when X is float32


def weights_from_gram(gram: np.ndarray, reg: float, *, overwrite: bool = False) -> np.ndarray:
    """:func:`ease_weights` from ``X^T X`` (``gram``, float32, left unchanged unless
    ``overwrite``)."""
    m = gram.shape[0]
    gram = gram if overwrite else gram.copy(order="K")
    gram[np.diag_indices(m)] += np.float32(reg)
    # gram is symmetric (exactly: G_ij and G_ji sum the same products in the same order), so
    # whichever of it and its transpose is in Fortran order is the same matrix for LAPACK, which
    # then works in place (a C-ordered array would be copied); the result's transpose is
    # C-contiguous again.
    fortran = gram if gram.flags.f_contiguous else gram.T
    chol, info = lapack.spotrf(fortran, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise DataError(f"EASE: X^T X + reg I is not positive definite (spotrf info={info})")
    inv, info = lapack.spotri(chol, lower=0, overwrite_c=1)
    if info != 0:
        raise DataError(f"EASE: inverting the Cholesky factor failed (spotri info={info})")
    p = inv.T  # C-contiguous; its lower triangle holds P (spotri wrote the upper of inv)
    _symmetrise_lower(p)
    diag = p.diagonal().copy()
    p /= -diag[None, :]
    p[np.diag_indices(m)] = 0.0
    return np.ascontiguousarray(p)


def _symmetrise_lower(a: np.ndarray) -> None:
    """Copy the lower triangle of ``a`` onto its upper triangle, in place, a row block at a time."""
    m = a.shape[0]
    for lo in range(0, m, SYMMETRISE_ROWS):
        hi = min(m, lo + SYMMETRISE_ROWS)
        a[:lo, lo:hi] = a[lo:hi, :lo].T
        block = a[lo:hi, lo:hi]
        block[:] = np.tril(block) + np.tril(block, -1).T


class EASE(Recommender):
    r"""Embarrassingly Shallow Autoencoder (Steck 2019), for top-N ranking.

    ``X`` is the users x items signal (``graded``: 1 for a rating ``>= threshold``,
    ``low_weight`` below it). EASE learns the item x item weights

        B = argmin ||X - X B||_F^2 + reg ||B||_F^2   subject to diag(B) = 0,

    whose closed form is ``P = (X^T X + reg I)^-1``, ``B = I - P diag(1 / diag P)``. The score
    of a user block is ``X[users] B`` (one float32 BLAS product per block). Every item is scored
    (no NaN) unless the catalogue exceeds ``max_items``: then only the ``max_items`` most-rated
    items are used and scored, the rest are NaN. ``predict`` is NaN: scores rank, they are not
    rating estimates. Users unknown at fit time get no recommendations; :meth:`for_users`
    scores new rating rows with the fitted ``B`` (fold-in: exactly a user's nightly score when
    the row is unchanged).

    Validation NDCG@10 that chose the defaults (ML-100k: a seeded 80% of the ratings -- the
    ingested frame's rows outside ``default_rng(42).permutation(n)[:n // 5]`` -- split again
    80/20 by ``random_split(seed=0)``; relevant = rating >= 4):

        reg            25     50    100    200    400    800   1600   3200
        graded      0.219  0.232  0.242  0.253  0.253  0.247  0.239  0.229

        reg = 300      binary   graded low 0.25   0.5    0.75
                        0.235            0.251  0.252   0.247

    ``reg`` stays absolute rather than relative to the mean diagonal of ``X^T X``: on half of
    each user's ratings (mean diagonal 26 -> 14) the best ``reg`` rose to 800, on the synthetic
    1M set (mean diagonal 154) it is >= 3200, so neither scaling transfers; the per-night
    selection searches a log grid and steps past its edge instead. Fit: ~0.1-0.3 s on ML-100k
    (1,682 items), ~2-5 s on 3,706 items (1M ratings) depending on load.
    """

    Params = EASEParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        self._prepare(data)
        with threadpool_limits(limits=1, user_api="blas"):  # see ONE_THREAD
            self.B_ = ease_weights(self._x, self.params.reg)

    def _prepare(self, data: RatingData) -> None:
        """The items used and the signal ``X``, after the memory guard."""
        p = self.params
        self.items_ = _most_rated(data.user_items, p.max_items)
        m = len(self.items_)
        require_memory(
            12.0 * m * m,
            f"EASE max_items={p.max_items} ({m} items)",
            "lower EASE max_items (items beyond it are left to the fallback)",
        )
        self._x = self._signal(data)

    @classmethod
    def fitter(cls, data: RatingData, ratings: pl.DataFrame) -> Callable[[Mapping[str, Any]], EASE]:
        """Fits on ``data`` that share ``X^T X`` while only ``reg`` changes: the Gram matrix
        is computed once per signal (one held at a time) and copied for each ``reg``, so a
        candidate costs one Cholesky inversion (the same ``B`` as :meth:`fit`, bit for bit)."""
        held: dict[tuple, tuple[np.ndarray, sp.csr_matrix, np.ndarray]] = {}

        def fit(params: Mapping[str, Any]) -> EASE:
            model = cls(**params)
            p = model.params
            key = (p.signal, p.low_weight, p.threshold, p.max_items)
            if key not in held:
                held.clear()
                model._prepare(data)
                with threadpool_limits(limits=1, user_api="blas"):
                    held[key] = (model.items_, model._x, gram_matrix(model._x))
            model.items_, model._x, gram = held[key]
            with threadpool_limits(limits=1, user_api="blas"):  # see ONE_THREAD
                model.B_ = weights_from_gram(gram, p.reg)
            model._data = data
            return model

        return fit

    def _signal(self, data: RatingData) -> sp.csr_matrix:
        p = self.params
        w = signal_matrix(data.user_items, p.signal, threshold=p.threshold, low=p.low_weight)
        return w[:, self.items_].tocsr()

    def score_users(self, users: np.ndarray) -> np.ndarray:
        n_items = self.data.n_items
        pad = (-len(users)) % ROW_TILE  # same BLAS kernel for every row: see rows_times
        dense = np.zeros((len(users) + pad, self._x.shape[1]), dtype=np.float32)
        dense[: len(users)] = self._x[users].toarray()
        with threadpool_limits(limits=1, user_api="blas"):  # see ONE_THREAD
            sub = (dense @ self.B_)[: len(users)]
        if len(self.items_) == n_items:
            return sub
        out = np.full((len(users), n_items), np.nan, dtype=np.float32)
        out[:, self.items_] = sub
        return out

    def explain(self, recs: pl.DataFrame, n: int = 3) -> pl.DataFrame:
        """``recs`` plus ``because``: for each row (u, j), the user's rated items i with the
        largest positive terms ``X_ui B_ij`` of ``score(u, j) = sum_i X_ui B_ij`` (at most
        ``n`` raw ids, largest term first, ties by smaller item index; empty for an unknown
        pair or an item EASE does not score)."""
        u, j = self.data.index_pairs(recs)
        sub = np.full(self.data.n_items, -1, dtype=np.int64)
        sub[self.items_] = np.arange(len(self.items_))
        jj = np.where(j >= 0, sub[np.maximum(j, 0)], -1)
        known = np.flatnonzero((u >= 0) & (jj >= 0))
        ends = np.cumsum(np.diff(self._x.indptr)[u[known]])
        parts = [(np.empty(0, np.int64), np.empty(0, np.int64))]
        start = 0
        while start < len(known):  # chunks of about EXPLAIN_PAIRS terms
            done = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, done + EXPLAIN_PAIRS, "right")))
            parts.append(self._top_terms(known[start:stop], u, jj, n))
            start = stop
        rows, items = (np.concatenate(a) for a in zip(*parts, strict=True))
        lists = (
            pl.DataFrame({"row": rows, "id": self.data.items.raw(self.items_[items])})
            .group_by("row", maintain_order=True)
            .agg(pl.col("id").alias("because"))
        )
        frame = pl.DataFrame({"row": np.arange(recs.height, dtype=np.int64)})
        because = frame.join(lists, on="row", how="left").get_column("because")
        return recs.with_columns(because.fill_null(pl.lit([], dtype=because.dtype)))

    def _top_terms(
        self, rows: np.ndarray, u: np.ndarray, jj: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(list row, subset item) of the ``n`` largest positive terms of each of ``rows``."""
        x = self._x
        counts = np.diff(x.indptr)[u[rows]]
        row = np.repeat(rows, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        at = np.repeat(x.indptr[u[rows]], counts) + offsets
        items = x.indices[at].astype(np.int64)
        terms = x.data[at] * self.B_[items, jj[row]]
        pos = terms > 0
        row, items, terms = row[pos], items[pos], terms[pos]
        order = np.lexsort((items, -terms, row))
        row, items = row[order], items[order]
        keep = np.arange(len(row)) - np.searchsorted(row, row) < n
        return row[keep], items[keep]

    def _fold_in(self, fitted: RatingData) -> None:
        """``B`` is item-side: a folded-in user's score is ``x_u B`` of their own row."""
        self._x = self._signal(self.data)

    def _state(self) -> dict[str, np.ndarray]:
        return {"B": self.B_, "items": self.items_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.B_ = np.ascontiguousarray(arrays["B"], dtype=np.float32)
        self.items_ = np.asarray(arrays["items"], dtype=np.int64)
        self._x = self._signal(self.data)


def _most_rated(user_items: sp.csr_matrix, limit: int) -> np.ndarray:
    """Indices of the ``limit`` items with the most ratings (ties: smaller index), sorted."""
    n_items = user_items.shape[1]
    if n_items <= limit:
        return np.arange(n_items, dtype=np.int64)
    counts = np.bincount(user_items.indices, minlength=n_items)
    order = np.lexsort((np.arange(n_items), -counts))
    return np.sort(order[:limit]).astype(np.int64)
