"""Neighbourhood sums of (x, y) pairs on padded blocks: one row per pair, one column per x'.

Vocabulary as in :mod:`recsys_core.models.knn.neighbors`. A pair (x, y) has as candidates the
x' of the rated row ``yx[y]`` (ascending x'), each with ``sim(x, x')`` read from dense rows of
``sim`` (0 where nothing is stored: every stored off-diagonal similarity is positive, the
diagonal is 1). On a block of ``P`` pairs padded to the longest row ``W``:

    kth    = the k-th largest value of the row (np.partition; only when W > k)
    keep   = (sim >= kth) & (sim > 0), then, where ties at kth exceed k, the leftmost ties
             (smaller x', Surprise's order) up to k
    sum_sim = sum keep * sim,   sum_dev = sum keep * sim * dev,   count = sum keep

``dev`` is what a neighbour's rating contributes (the predictor's deviation), one value per
stored rating of ``yx``. Each step is one numpy operation on the whole block, so the cost per
candidate is a few memory passes, not a Python step or a sort per pair.

Pairs are cut into chunks sorted by x (a chunk's distinct x fit :data:`DENSE_BUDGET` dense
values) and, inside a chunk, into groups of similar row length (within a factor
:data:`GROWTH`, at most :data:`CELL_BUDGET` cells), so the padding wastes little. Neither cut
changes a result: rows are summed left to right, so a pair's estimate does not depend on the
other pairs predicted with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from recsys_core.models.knn.neighbors import MIN_POSITIVE, kth_largest

DENSE_BUDGET = 1 << 22
"""Dense similarity values held per chunk (rows of ``sim`` x all columns; float64: 32 MiB)."""

CELL_BUDGET = 1 << 20
"""Padded cells (pairs x width) per group."""

GROWTH = 1.25
"""Longest over shortest row length within a group (bounds the padding to ~25 %)."""


def padded_sums(
    sim: sp.csr_matrix,
    yx: sp.csr_matrix,
    dev: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sum_sim, sum_dev, count)`` per pair ``(x[p], y[p])`` over its top-k neighbours.

    ``sim`` holds only positive off-diagonal values (plus its diagonal); ``yx`` is the y x x'
    CSR of ratings with sorted indices and ``dev`` is aligned with ``yx.data``.
    """
    n = len(x)
    sum_sim, sum_dev = np.zeros(n), np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    if n == 0:
        return sum_sim, sum_dev, count
    rated = Rated(yx, np.asarray(dev, dtype=np.float64))
    widths = rated.widths[y]
    for pairs, rows, x_local in _chunks(x, sim.shape[1]):
        dense = sim.toarray() if len(rows) == sim.shape[0] else sim[rows].toarray()
        for group in _groups(widths[pairs], y[pairs]):
            p = pairs[group]
            sums = _block_sums(dense, x_local[group], y[p], rated, k)
            sum_sim[p], sum_dev[p], count[p] = sums
    return sum_sim, sum_dev, count


class Rated:
    """The rated rows ``yx[y]`` with the deviations, read as padded blocks."""

    def __init__(self, yx: sp.csr_matrix, dev: np.ndarray) -> None:
        self.widths = np.diff(yx.indptr).astype(np.int64)
        pad = int(self.widths.max()) if len(self.widths) else 0
        # positions past a row's end read the next rows (or this tail): defined, masked off
        self.indices = np.concatenate((yx.indices.astype(np.int64), np.zeros(pad, np.int64)))
        self.dev = np.concatenate((dev, np.zeros(pad)))
        self.starts = yx.indptr[:-1].astype(np.int64)

    def block(self, ys: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cols, dev, valid)``, each ``len(ys) x width``, for distinct rows ``ys``."""
        span = np.arange(width)
        pos = self.starts[ys][:, None] + span
        return self.indices[pos], self.dev[pos], span < self.widths[ys][:, None]


def _block_sums(
    dense: np.ndarray, rows: np.ndarray, ys: np.ndarray, rated: Rated, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sums of one group of pairs (sorted by y): ``dense[rows[p]]`` holds pair p's
    similarities, ``ys[p]`` its rated row. Rated rows are padded once per distinct y."""
    distinct, y_local = np.unique(ys, return_inverse=True)
    cols, dev, valid = rated.block(distinct, int(rated.widths[distinct].max()))
    flat = cols[y_local]
    flat += (rows * dense.shape[1])[:, None]
    sims = np.take(dense, flat)
    sims *= valid[y_local]
    keep = top_k_positive_mask(sims, k)
    if keep is not None:
        sims *= keep
    n_used = np.count_nonzero(sims, axis=1)
    weighted = dev[y_local]
    weighted *= sims
    return _row_sums(sims), _row_sums(weighted), n_used


def _row_sums(values: np.ndarray) -> np.ndarray:
    """Each row summed left to right (a running sum): the trailing padding adds exact zeros, so
    a pair's sums do not depend on its block's width, i.e. on the other pairs predicted with it,
    and equal the entry-by-entry sums of :func:`~recsys_core.models.knn.neighbors.neighborhood_sums`
    bit for bit (numpy's ``sum`` adds in a width-dependent tree)."""
    if values.shape[1] == 0:
        return np.zeros(len(values))
    return np.cumsum(values, axis=1, out=values)[:, -1].copy()  # in place: a scratch array


def top_k_positive_mask(values: np.ndarray, k: int) -> np.ndarray | None:
    """Row-wise mask of the ``k`` largest positive values (values are >= 0); ties at the k-th
    value: leftmost first. None when every row has at most ``k`` columns (keep all)."""
    width = values.shape[1]
    if width <= k:
        return None
    kth = kth_largest(values, k)[:, None]
    keep = values >= np.maximum(kth, MIN_POSITIVE)
    over = np.flatnonzero(np.count_nonzero(keep, axis=1) > k)  # ties at kth beyond k
    if len(over):
        v, t = values[over], kth[over]
        above, tie = v > t, v == t
        need = k - above.sum(axis=1, keepdims=True)
        keep[over] = above | (tie & (np.cumsum(tie, axis=1, dtype=np.int32) <= need))
    return keep


def _chunks(x: np.ndarray, n_cols: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pairs sorted by x, cut so a chunk's distinct x fit the dense budget: ``(pairs, rows,
    x_local)`` with ``rows`` the distinct x and ``x_local`` each pair's row in ``rows``."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    firsts = np.flatnonzero(np.diff(xs, prepend=-1))
    max_rows = max(1, DENSE_BUDGET // max(n_cols, 1))
    for lo in range(0, len(firsts), max_rows):
        start = firsts[lo]
        stop = firsts[lo + max_rows] if lo + max_rows < len(firsts) else len(xs)
        rows, x_local = np.unique(xs[start:stop], return_inverse=True)
        yield order[start:stop], rows, x_local


def _groups(widths: np.ndarray, ys: np.ndarray) -> Iterator[np.ndarray]:
    """Positions sorted by (width, y), grouped so each group's widths are within a factor
    :data:`GROWTH` and its padded size within :data:`CELL_BUDGET`; empty rows are skipped."""
    order = np.lexsort((ys, widths))
    w = widths[order]
    start = int(np.searchsorted(w, 1))
    while start < len(w):
        cap = int(np.searchsorted(w, w[start] * GROWTH, side="right"))
        stop = max(start + 1, min(cap, start + max(1, CELL_BUDGET // int(w[cap - 1]))))
        yield order[start:stop]
        start = stop
