"""Alternating least squares for (biased) matrix factorisation, as batches of ridge systems.

The objective is the one Surprise's SGD minimises, with the regularisation paid per rating:

    sum_{r_ui in R} (r_ui - r_hat_ui)^2 + reg_bu b_u^2 + reg_bi b_i^2 + reg_pu ||p_u||^2
                                         + reg_qi ||q_i||^2,
    r_hat_ui = mu + b_u + b_i + q_i^T p_u.

With the items fixed, each user's ``x_u = [b_u, p_u]`` solves a ridge system over the user's
``n_u`` rated items with features ``y_i = [1, q_i]`` and targets ``r_ui - mu - b_i``:

    (sum_i y_i y_i^T + n_u diag(reg_bu, reg_pu, ..., reg_pu)) x_u = sum_i (r_ui - mu - b_i) y_i

then each item's ``[b_i, q_i]`` likewise with the users fixed; one epoch is both half-steps.
(Unbiased: ``x_u = p_u``, ``y_i = q_i``, targets ``r_ui``.)

Rows are sorted by rating count and cut into batches whose zero-padded features (``b x L x d``)
fit a budget. A batch builds its normal equations with stacked matrix products and solves them
with one stacked ``np.linalg.solve``. Each product is kept below OpenBLAS's threading threshold
(long rows are summed in chunks of ``L``), so a product never wakes BLAS threads that spin when
the other core is busy; instead batches run on a small pool of Python threads (numpy releases
the GIL), ~2x faster on 2 cores and steady under load. Results do not depend on the threads.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_core.models.mf.factors import BiasedFactors, Terms, init_factors

log = logging.getLogger(__name__)

GATHER_BUDGET = 1 << 22
"""Feature values gathered per batch (4M values, <= 32 MiB); only speed and memory depend on it."""

BLAS_SMALL = 1 << 18
"""``m * n * k`` below which OpenBLAS runs a product on one thread (its default threshold)."""

THREADS = min(4, os.cpu_count() or 1)
"""Batches solved at once."""

FLOAT32_MIN_REG = 1e-3
"""When every regularisation term is at least this, features and normal equations are built in
float32 (then solved in float64): the ridge keeps the systems well conditioned, and it is ~1.4x
faster. Below it (e.g. an exact fit without regularisation) everything stays float64."""


@dataclass(frozen=True)
class Batch:
    """Rows of one side with their ratings padded to ``b x L`` (column -1 = padding).

    ``L`` is a multiple of ``chunk`` so the Gram matrices can be summed over chunks of ``chunk``.
    """

    rows: np.ndarray
    counts: np.ndarray
    cols: np.ndarray
    ratings: np.ndarray
    chunk: int


def chunk_length(d: int) -> int:
    """Longest chunk whose ``d x chunk x d`` product stays below :data:`BLAS_SMALL`."""
    return max(8, (BLAS_SMALL - 1) // (d * d))


def plan_batches(m: sp.csr_matrix, d: int, budget: int = GATHER_BUDGET) -> list[Batch]:
    """Rows of ``m`` sorted by count, cut so a batch's padded ``b x L x d`` fits ``budget``."""
    counts = np.diff(m.indptr)
    order = np.argsort(counts, kind="stable")
    c = counts[order]
    cap = max(1, budget // (d * d))
    batches, s, n = [], 0, len(order)
    while s < n:
        hi = min(n, s + cap)
        width = np.arange(1, hi - s + 1) * c[s:hi] * d
        e = s + max(1, int(np.searchsorted(width, budget, side="right")))
        batches.append(pad_rows(m, order[s:e], chunk_length(d)))
        s = e
    return batches


def pad_rows(m: sp.csr_matrix, rows: np.ndarray, chunk: int) -> Batch:
    """The ratings of ``rows`` as a padded block (padded further to a multiple of ``chunk``)."""
    starts = m.indptr[rows]
    counts = m.indptr[rows + 1] - starts
    width = int(counts.max())
    if width > chunk:
        width = -(-width // chunk) * chunk
    span = np.arange(width)
    valid = span < counts[:, None]
    pos = np.where(valid, starts[:, None] + span, 0)
    cols = np.where(valid, m.indices[pos], -1)
    ratings = np.where(valid, m.data[pos], 0.0)
    return Batch(rows, counts, cols, ratings, min(chunk, width))


def normal_equations(
    batch: Batch, feats: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i y_i y_i^T`` and ``sum_i t_i y_i`` per row (float64), summed chunk by chunk."""
    b, width = batch.cols.shape
    n_chunks, d = width // batch.chunk, feats.shape[1]
    y = feats[batch.cols].reshape(b * n_chunks, batch.chunk, d)
    target = (batch.ratings - offsets[batch.cols]).astype(feats.dtype)
    target = target.reshape(b * n_chunks, 1, batch.chunk)
    gram = np.matmul(y.transpose(0, 2, 1), y).reshape(b, n_chunks, d, d)
    rhs = np.matmul(target, y).reshape(b, n_chunks, d)
    return gram.sum(axis=1, dtype=np.float64), rhs.sum(axis=1, dtype=np.float64)


def ridge_batch(
    batch: Batch, feats: np.ndarray, offsets: np.ndarray, reg: np.ndarray
) -> np.ndarray:
    """Solve the batch's ridge systems; ``feats`` and ``offsets`` end in a zero row (padding)."""
    gram, rhs = normal_equations(batch, feats, offsets)
    diag = np.arange(feats.shape[1])
    gram[:, diag, diag] += batch.counts[:, None] * reg
    try:
        return np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # singular systems (no regularisation, fewer ratings than unknowns): minimum-norm solution
        return np.matmul(np.linalg.pinv(gram), rhs[..., None])[..., 0]


def solve_side(
    n_rows: int,
    batches: list[Batch],
    feats: np.ndarray,
    offsets: np.ndarray,
    reg: np.ndarray,
    pool: ThreadPoolExecutor,
) -> np.ndarray:
    """One half-step: the new ``[b, factors]`` of every row given the other side's."""
    dtype = np.float32 if reg.min() >= FLOAT32_MIN_REG else np.float64
    feats = np.vstack([feats, np.zeros((1, feats.shape[1]))]).astype(dtype)
    offsets = np.append(offsets, 0.0)
    out = np.empty((n_rows, feats.shape[1]))

    def run(batch: Batch) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # a divergence is raised by the caller
            out[batch.rows] = ridge_batch(batch, feats, offsets, reg)

    for _ in pool.map(run, batches):
        pass
    return out


def _with_bias(factors: np.ndarray, biased: bool) -> np.ndarray:
    return np.hstack([np.ones((len(factors), 1)), factors]) if biased else factors


def fit_als(
    user_items: sp.csr_matrix,
    *,
    n_factors: int,
    n_epochs: int,
    biased: bool,
    terms: Terms,
    init_mean: float,
    init_std_dev: float,
    rng: np.random.Generator,
) -> BiasedFactors:
    """Alternate user and item ridge solves ``n_epochs`` times (see the module docstring)."""
    ui = user_items
    iu = ui.T.tocsr()
    iu.sort_indices()
    n_users, n_items = ui.shape
    mu = float(ui.data.mean())
    offset = mu if biased else 0.0
    pu, qi = init_factors(n_users, n_items, n_factors, init_mean, init_std_dev, rng)
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    d = n_factors + int(biased)
    user_batches, item_batches = plan_batches(ui, d), plan_batches(iu, d)
    reg_u = np.array(([terms.reg_bu] if biased else []) + [terms.reg_pu] * n_factors)
    reg_i = np.array(([terms.reg_bi] if biased else []) + [terms.reg_qi] * n_factors)
    with ThreadPoolExecutor(THREADS) as pool:
        for epoch in range(n_epochs):
            x = solve_side(n_users, user_batches, _with_bias(qi, biased), offset + bi, reg_u, pool)
            bu, pu = (x[:, 0].copy(), x[:, 1:]) if biased else (bu, x)
            y = solve_side(n_items, item_batches, _with_bias(pu, biased), offset + bu, reg_i, pool)
            bi, qi = (y[:, 0].copy(), y[:, 1:]) if biased else (bi, y)
            BiasedFactors(mu, offset, bu, bi, pu, qi).check_finite(
                f"SVD(solver='als') epoch {epoch + 1}"
            )
            log.debug("ALS epoch %d/%d done", epoch + 1, n_epochs)
    return BiasedFactors(mu, offset, bu, bi, np.ascontiguousarray(pu), np.ascontiguousarray(qi))
