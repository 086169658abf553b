"""Surprise's four similarity measures, between the rows of a ratings matrix, sparse, in blocks.

Notation: x, x' are rows (items when item-based, users when user-based), y the other side,
``Y_xx'`` the set of y that rated both, ``r_xy`` a rating. Every sum runs over ``Y_xx'`` only
(Surprise's code: even the norms and means are restricted to the common raters).

- ``cosine``: ``sum r_xy r_x'y / (sqrt(sum r_xy^2) * sqrt(sum r_x'y^2))``
- ``msd``: ``1 / (msd + 1)`` with ``msd = (1 / |Y_xx'|) * sum (r_xy - r_x'y)^2``
- ``pearson``: with ``n = |Y_xx'|``, ``(n sum r_xy r_x'y - sum r_xy sum r_x'y) /
  sqrt((n sum r_xy^2 - (sum r_xy)^2) (n sum r_x'y^2 - (sum r_x'y)^2))``, i.e. the correlation
  centred on the means over the common raters; 0 when the denominator is 0.
- ``pearson_baseline``: with residuals ``d_xy = r_xy - b_xy`` (``b_xy = mu + b_x + b_y``),
  ``rho = sum d_xy d_x'y / sqrt(sum d_xy^2 sum d_x'y^2)`` shrunk to
  ``(|Y_xx'| - 1) / (|Y_xx'| - 1 + shrinkage) * rho``; ``min_support`` is at least 2.

Pairs with ``|Y_xx'| < min_support`` get 0; ``sim(x, x) = 1``. Where Surprise would divide by zero
(only possible with zero ratings or zero residuals, or ``min_support = 0``) the similarity is 0.

Only positive similarities are stored: the predictors use only positive ones (a non-positive
neighbour never counts), so dropping the rest changes no prediction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from recsys_core.models.knn.corating import CoRating
from recsys_core.models.knn.neighbors import top_k_positive
from recsys_core.models.knn.options import SimOptions
from recsys_core.models.knn.packed import PackedSquaredDiffs

log = logging.getLogger(__name__)

SIM_BUDGET = 1 << 20
"""Entries of the similarity matrix computed per block (rows x all rows), by default."""

Sums = dict[str, np.ndarray]


def cosine(freq: np.ndarray, s: Sums, opts: SimOptions) -> np.ndarray:
    """``prods / sqrt(sqi * sqj)`` over common raters."""
    return _div(s["prods"], np.sqrt(s["sqi"] * s["sqj"]))


def msd(freq: np.ndarray, s: Sums, opts: SimOptions) -> np.ndarray:
    """``1 / (sum (r_xy - r_x'y)^2 / freq + 1)``; the squared differences come from the packed
    product (:mod:`recsys_core.models.knn.packed`) or else from ``sqi + sqj - 2 prods``."""
    sq_diff = s.get("sq_diff")
    if sq_diff is None:
        sq_diff = np.maximum(s["sqi"] + s["sqj"] - 2.0 * s["prods"], 0.0)
    return 1.0 / (sq_diff / freq + 1.0)


def pearson(freq: np.ndarray, s: Sums, opts: SimOptions) -> np.ndarray:
    """Correlation over common raters from the raw sums, as Surprise computes it."""
    num = freq * s["prods"] - s["si"] * s["sj"]
    denum = np.sqrt((freq * s["sqi"] - s["si"] ** 2) * (freq * s["sqj"] - s["sj"] ** 2))
    return _div(num, denum)


def pearson_baseline(freq: np.ndarray, s: Sums, opts: SimOptions) -> np.ndarray:
    """Residual correlation times ``(freq - 1) / (freq - 1 + shrinkage)``."""
    sim = _div(s["prods"], np.sqrt(s["sqi"] * s["sqj"]))
    return sim * ((freq - 1.0) / (freq - 1.0 + opts.shrinkage))


MEASURES: dict[str, Callable[[np.ndarray, Sums, SimOptions], np.ndarray]] = {
    "cosine": cosine,
    "msd": msd,
    "pearson": pearson,
    "pearson_baseline": pearson_baseline,
}

RATING_SUMS = {"prods": ("r", "r"), "sqi": ("r2", "one"), "sqj": ("one", "r2")}
NEEDS: dict[str, dict[str, tuple[str, str]]] = {
    "cosine": RATING_SUMS,
    "msd": RATING_SUMS,
    "pearson": {**RATING_SUMS, "si": ("r", "one"), "sj": ("one", "r")},
    "pearson_baseline": RATING_SUMS,
}
"""Sums each measure needs, as (left, right) operand names; for ``pearson_baseline`` the
operand ``r`` holds residuals instead of ratings."""


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out) | (den == 0)] = 0.0
    return out


def min_support(opts: SimOptions) -> int:
    """The support below which a pair's similarity is 0 (Surprise forces >= 2 for
    ``pearson_baseline``)."""
    return max(2, opts.min_support) if opts.name == "pearson_baseline" else opts.min_support


def auto_block_size(n_rows: int, budget: int = SIM_BUDGET) -> int:
    """Rows per block so that a block holds about ``budget`` entries."""
    return max(1, budget // max(n_rows, 1))


@dataclass(frozen=True)
class Neighborhoods:
    """The fitted similarity matrices (both n x n CSR).

    ``sim``: the positive similarities used by the predictors (diagonal 1; when
    ``max_neighbors`` is set, only the off-diagonal entries with the ``max_neighbors`` largest
    support-shrunk similarities ``sim * freq / (freq + rank_shrinkage)`` per row, stored with
    their plain similarity). ``rank``: for ranking, each row's ``rank_k`` largest shrunk
    similarities (off-diagonal; independent of ``max_neighbors``). Built later when
    :func:`similarity_matrix` is called with ``with_rank=False`` (only without
    ``max_neighbors``): ``rank`` is then None and ``freq`` holds each stored entry's number of
    common raters (float32, exact; aligned with ``sim.data``) for :func:`rank_matrix`.
    """

    sim: sp.csr_matrix
    rank: sp.csr_matrix | None
    freq: np.ndarray | None = None


def similarity_matrix(
    x: sp.csr_matrix,
    opts: SimOptions,
    *,
    residuals: np.ndarray | None = None,
    max_neighbors: int | None = None,
    rank_k: int = 40,
    rank_shrinkage: float = 100.0,
    block_size: int | None = None,
    n_threads: int | None = None,
    with_rank: bool = True,
) -> Neighborhoods:
    """Positive similarities between the rows of ``x``, and the ranking neighbourhoods (or,
    with ``with_rank=False`` and no ``max_neighbors``, what :func:`rank_matrix` needs).

    ``x`` is CSR with sorted indices; ``residuals`` (aligned with ``x.data``) is required for
    ``pearson_baseline``. With ``max_neighbors``, each row of ``sim`` keeps the off-diagonal
    entries with the ``max_neighbors`` largest shrunk similarities (ties: smaller column first,
    see :class:`Neighborhoods`). Blocks of
    ``block_size`` rows are computed by ``n_threads`` threads; neither changes the result.
    """
    values = x.data if opts.name != "pearson_baseline" else residuals
    if values is None:
        raise ValueError("pearson_baseline needs the baseline residuals")
    packed = PackedSquaredDiffs.build(x) if opts.name == "msd" else None
    co = packed or CoRating(x, {"r": values, "r2": values**2})
    n = x.shape[0]
    size = block_size or auto_block_size(n)
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
    lazy = not with_rank and max_neighbors is None
    work = partial(_block, co, opts, max_neighbors, None if lazy else rank_k, rank_shrinkage)
    threads = max(1, min(n_threads or os.cpu_count() or 1, len(bounds)))
    log.debug("%s similarities: %d rows, %d blocks, %d threads", opts.name, n, len(bounds), threads)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(work, bounds))
    else:
        parts = [work(b) for b in bounds]
    sim = _stack([p[0] for p in parts], n)
    if lazy:
        return Neighborhoods(sim, None, np.concatenate([p[1] for p in parts]))
    return Neighborhoods(sim, _stack([p[1] for p in parts], n))


def rank_matrix(
    sim: sp.csr_matrix,
    freq: np.ndarray,
    rank_k: int,
    rank_shrinkage: float,
    block_size: int | None = None,
) -> sp.csr_matrix:
    """:class:`Neighborhoods`' ``rank`` from an unpruned ``sim`` and its ``freq``: each row's
    ``rank_k`` largest off-diagonal ``sim * freq / (freq + rank_shrinkage)`` (ties: smaller
    column), equal bit for bit to the one :func:`similarity_matrix` builds with the rest."""
    n = sim.shape[0]
    rows = np.repeat(np.arange(n, dtype=sim.indices.dtype), np.diff(sim.indptr))
    f = freq.astype(np.float64)
    shrunk = np.where(sim.indices != rows, sim.data * (f / (f + rank_shrinkage)), 0.0)
    del rows, f
    size = block_size or auto_block_size(n)
    parts = []
    for start in range(0, n, size):
        stop = min(start + size, n)
        a, b = sim.indptr[start], sim.indptr[stop]
        block = (shrunk[a:b], sim.indices[a:b], sim.indptr[start : stop + 1] - a)
        parts.append(_top_per_row(sp.csr_matrix(block, shape=(stop - start, n)), rank_k))
    return _stack(parts, n)


def reindexed(m: sp.csr_matrix, to_new: np.ndarray, n: int, diagonal: bool) -> sp.csr_matrix:
    """``m`` (sorted CSR) with row and column ``j`` moved to ``to_new[j]`` (-1: dropped), as
    an n x n CSR with sorted indices; ``diagonal``: every row gets ``m[x, x] = 1``."""
    coo = m.tocoo()
    rows, cols = to_new[coo.row], to_new[coo.col]
    keep = (rows >= 0) & (cols >= 0) & (rows != cols)
    rows, cols, vals = rows[keep], cols[keep], coo.data[keep]
    if diagonal:
        rows = np.concatenate((rows, np.arange(n)))
        cols = np.concatenate((cols, np.arange(n)))
        vals = np.concatenate((vals, np.ones(n)))
    out = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    out.sort_indices()
    return out


def _stack(parts: list[sp.csr_matrix], n: int) -> sp.csr_matrix:
    """Row blocks stacked into one n x n CSR (no re-sorting: each row keeps its order)."""
    if not parts:
        return sp.csr_matrix((n, n))
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.nnz for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets, strict=True)])
    indices = np.concatenate([p.indices for p in parts])
    data = np.concatenate([p.data for p in parts])
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _sums(co: CoRating | PackedSquaredDiffs, name: str, start: int, stop: int):
    """``freq`` (CSR) and the named co-rating sums on its entries, for rows ``start:stop``."""
    if isinstance(co, PackedSquaredDiffs):
        freq, sq_diff = co.block(start, stop)
        return freq, {"sq_diff": sq_diff}
    freq = co.freq(start, stop)
    return freq, {key: co.sum(freq, a, b, start, stop) for key, (a, b) in NEEDS[name].items()}


def _block(
    co: CoRating | PackedSquaredDiffs,
    opts: SimOptions,
    max_neighbors: int | None,
    rank_k: int | None,
    rank_shrinkage: float,
    bounds: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix | np.ndarray]:
    """``(sim, rank)`` rows of a block; ``(sim, freq)`` when ``rank_k`` is None."""
    start, stop = bounds
    freq, sums = _sums(co, opts.name, start, stop)
    f = freq.data
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = MEASURES[opts.name](f, sums, opts)
    counts = np.diff(freq.indptr)
    rows = np.repeat(np.arange(stop - start, dtype=freq.indices.dtype), counts)
    diag = freq.indices == rows + start
    del rows
    valid = (sim > 0) & (f >= min_support(opts)) & ~diag
    if rank_k is None:  # the ranking neighbourhoods come later, from sim and f (rank_matrix)
        rank = None
    else:
        shrunk = np.where(valid, sim * (f / (f + rank_shrinkage)), 0.0)
        if max_neighbors is not None:
            return _pruned(freq, np.where(valid, sim, 0.0), shrunk, max_neighbors, rank_k, start)
        rank = _top_per_row(_like(freq, shrunk), rank_k)
    sim[diag] = 1.0
    keep = valid | diag
    if keep.all():
        return _like(freq, sim), rank if rank_k is not None else f.astype(np.float32)
    kept = np.concatenate(([0], np.cumsum(keep)))[freq.indptr]
    block = sp.csr_matrix((sim[keep], freq.indices[keep], kept), shape=freq.shape)
    return block, rank if rank_k is not None else f[keep].astype(np.float32)


def _pruned(
    freq: sp.csr_matrix, sim: np.ndarray, shrunk: np.ndarray, max_neighbors: int, k: int, start: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(sim, rank)`` blocks when at most ``max_neighbors`` neighbours are kept per row: the
    ones with the largest shrunk similarity (as for ranking), stored with their similarity."""
    rows, cols, vals = top_k_positive(_like(freq, shrunk).toarray(), max(max_neighbors, k))
    order = np.arange(len(rows)) - np.searchsorted(rows, rows)  # rank within the row
    first_k = order < k
    rank = sp.csr_matrix((vals[first_k], (rows[first_k], cols[first_k])), shape=freq.shape)
    kept = order < max_neighbors
    rows, cols = rows[kept], cols[kept]
    n_rows = freq.shape[0]
    vals = _like(freq, sim).toarray()[rows, cols]
    rows = np.concatenate((rows, np.arange(n_rows)))
    cols = np.concatenate((cols, np.arange(start, start + n_rows)))
    vals = np.concatenate((vals, np.ones(n_rows)))
    return sp.csr_matrix((vals, (rows, cols)), shape=freq.shape), rank


def _like(pattern: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)


def _top_per_row(block: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest positive values (ties: smaller column)."""
    r, c, v = top_k_positive(block.toarray(), k)
    return sp.csr_matrix((v, (r, c)), shape=block.shape)
