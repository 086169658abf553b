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
The loop is sequential by nature. With numba installed (``pip install 'recsys[sgd]'``) it runs
compiled; without it a pure-numpy loop gives the same updates, about 100x slower.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recsys_core.models.mf.factors import BiasedFactors, Terms, init_factors

log = logging.getLogger(__name__)

Epoch = Callable[..., None]


def epoch_loops(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    pu: np.ndarray,
    qi: np.ndarray,
    lr: np.ndarray,
    reg: np.ndarray,
    biased: bool,
) -> None:
    """One epoch with scalar loops (the kernel numba compiles); updates arrays in place."""
    n_users, k = pu.shape
    for u in range(n_users):
        for j in range(indptr[u], indptr[u + 1]):
            i = indices[j]
            dot = 0.0
            for f in range(k):
                dot += qi[i, f] * pu[u, f]
            err = data[j] - (mu + bu[u] + bi[i] + dot)
            if biased:
                bu[u] += lr[0] * (err - reg[0] * bu[u])
                bi[i] += lr[1] * (err - reg[1] * bi[i])
            for f in range(k):
                puf = pu[u, f]
                qif = qi[i, f]
                pu[u, f] += lr[2] * (err * qif - reg[2] * puf)
                qi[i, f] += lr[3] * (err * puf - reg[3] * qif)


def epoch_numpy(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    pu: np.ndarray,
    qi: np.ndarray,
    lr: np.ndarray,
    reg: np.ndarray,
    biased: bool,
) -> None:
    """The same epoch with one numpy vector operation per factor update (no compiler)."""
    users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)).tolist()
    lr_bu, lr_bi, lr_pu, lr_qi = (float(x) for x in lr)
    reg_bu, reg_bi, reg_pu, reg_qi = (float(x) for x in reg)
    for u, i, r in zip(users, indices.tolist(), data.tolist(), strict=True):
        p, q = pu[u], qi[i]
        err = r - (mu + bu[u] + bi[i] + float(p @ q))
        if biased:
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        new_p = p + lr_pu * (err * q - reg_pu * p)
        qi[i] = q + lr_qi * (err * p - reg_qi * q)
        pu[u] = new_p


@functools.cache
def compiled_epoch() -> Epoch | None:
    """The numba-compiled :func:`epoch_loops`, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        log.warning(
            "numba is not installed: SVD(solver='sgd') runs a pure-numpy loop, ~100x slower; "
            "install it with: pip install 'recsys[sgd]'"
        )
        return None
    return numba.njit(cache=True, nogil=True)(epoch_loops)


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
    epoch: Epoch | None = None,
) -> BiasedFactors:
    """Run Surprise's SGD (see the module docstring); ``epoch`` overrides the kernel."""
    m = user_items
    n_users, n_items = m.shape
    mu = float(m.data.mean())
    offset = mu if biased else 0.0
    pu, qi = init_factors(n_users, n_items, n_factors, init_mean, init_std_dev, rng)
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    lr = np.array([terms.lr_bu, terms.lr_bi, terms.lr_pu, terms.lr_qi])
    reg = np.array([terms.reg_bu, terms.reg_bi, terms.reg_pu, terms.reg_qi])
    run = epoch or compiled_epoch() or epoch_numpy
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    for e in range(n_epochs):
        with np.errstate(over="ignore", invalid="ignore"):
            run(indptr, indices, m.data, offset, bu, bi, pu, qi, lr, reg, biased)
        BiasedFactors(mu, offset, bu, bi, pu, qi).check_finite(f"SVD(solver='sgd') epoch {e + 1}")
        log.debug("SGD epoch %d/%d done", e + 1, n_epochs)
    return BiasedFactors(mu, offset, bu, bi, pu, qi)
