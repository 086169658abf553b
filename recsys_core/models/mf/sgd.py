"""Surprise's stochastic gradient descent for biased matrix factorisation.

For each rating ``r_ui`` (users in index order, each user's items in index order), with
``e_ui = r_ui - (mu + b_u + b_i + q_i^T p_u)``:

    b_u <- b_u + lr_bu (e_ui - reg_bu b_u)
    b_i <- b_i + lr_bi (e_ui - reg_bi b_i)
    p_u <- p_u + lr_pu (e_ui q_i - reg_pu p_u)
    q_i <- q_i + lr_qi (e_ui p_u - reg_qi q_i)      (p_u, q_i: the values before this step)

repeated ``n_epochs`` times; biases stay 0 and ``mu`` is taken as 0 when ``biased=False``.
Surprise visits users in the order they first appear in its input; here they are visited in
id order, so the result does not depend on the row order of the ratings frame.

The loop is sequential by nature (each update reads the previous one's ``p_u``), so it runs
compiled by numba (:mod:`recsys_core.models.mf.sgd_kernel`) on float32 copies of the factors
and biases, at 1.8x the speed of float64 for the same RMSE (docs/benchmarks.md); the fitted
arrays are returned as float64. The starting factors are drawn in float64 (the same draws as
the ALS solver's) and rounded once.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from recsys_core.models.mf.factors import BiasedFactors, Terms, init_factors

log = logging.getLogger(__name__)

DTYPE = np.float32
"""Float type of the factors, biases and ratings inside the compiled loop."""


def fit_sgd(
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
    """Run Surprise's SGD (see the module docstring)."""
    from recsys_core.models.mf.sgd_kernel import epochs  # imports numba: only when SGD runs

    m = user_items
    n_users, n_items = m.shape
    mu = float(m.data.mean())
    offset = mu if biased else 0.0
    pu, qi = (a.astype(DTYPE) for a in init_factors(n_users, n_items, n_factors, init_mean,
                                                    init_std_dev, rng))  # fmt: skip
    bu, bi = np.zeros(n_users, DTYPE), np.zeros(n_items, DTYPE)
    lr = np.array([terms.lr_bu, terms.lr_bi, terms.lr_pu, terms.lr_qi], DTYPE)
    reg = np.array([terms.reg_bu, terms.reg_bi, terms.reg_pu, terms.reg_qi], DTYPE)
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    ratings = m.data.astype(DTYPE)
    with np.errstate(over="ignore", invalid="ignore"):
        done = epochs(indptr, indices, ratings, DTYPE(offset), bu, bi, pu, qi, lr, reg, biased,
                      n_epochs)  # fmt: skip
    BiasedFactors(mu, offset, bu, bi, pu, qi).check_finite(f"SVD(solver='sgd') epoch {done}")
    log.debug("SGD: %d epochs done", done)
    as64 = (a.astype(np.float64) for a in (bu, bi, pu, qi))
    return BiasedFactors(mu, offset, *as64)
