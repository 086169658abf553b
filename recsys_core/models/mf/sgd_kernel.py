"""The compiled SGD epochs (numba). Imported by the first SGD fit, not by ``import recsys_core``:
numba's import and start-up cost 0.3-0.4 s of CPU, which only an SGD fit should pay.

The updates are those of :mod:`recsys_core.models.mf.sgd`, in the same order. Two things make
the loop fast (1M ratings, 100 factors, float32, per epoch on this 2-core machine:
docs/benchmarks.md):

- the dot product of the *next* rating, ``q_next^T p_u``, is summed inside the loop that
  updates ``p_u`` and ``q_i``, from each new ``p_u[f]`` as it is written (``q_next`` is another
  item's row, so this step does not change it). One pass over the factors per rating instead of
  two, and the next estimate no longer waits for the stored ``p_u`` to be read back: 26 instead
  of 40 ms.
- ``fastmath`` with only ``reassoc`` and ``contract``: dot products may be summed in vector lanes
  and multiply-adds fused; NaN and inf keep their meaning (the divergence check reads them).

Compiled once per machine (~1 s) and cached next to this module (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def epochs(
    indptr: np.ndarray,
    indices: np.ndarray,
    ratings: np.ndarray,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    pu: np.ndarray,
    qi: np.ndarray,
    lr: np.ndarray,
    reg: np.ndarray,
    biased: bool,
    n_epochs: int,
) -> int:  # pragma: no cover - compiled; its interpreted twin runs in tests/test_svd.py
    """Up to ``n_epochs`` epochs of SGD over the CSR ratings, updating the arrays in place;
    returns the number run, stopping after the first that leaves a NaN or inf. ``lr`` and
    ``reg`` hold the ``bu, bi, pu, qi`` terms; ``mu`` is 0 when not ``biased``."""
    lr_bu, lr_bi, lr_pu, lr_qi = lr[0], lr[1], lr[2], lr[3]
    reg_bu, reg_bi, reg_pu, reg_qi = reg[0], reg[1], reg[2], reg[3]
    zero = mu - mu  # 0 in the factors' float type
    k = pu.shape[1]
    for e in range(n_epochs):
        for u in range(len(indptr) - 1):
            start, stop = indptr[u], indptr[u + 1]
            if start == stop:
                continue
            p = pu[u]
            b_u = bu[u]
            q = qi[indices[start]]
            dot = zero
            for f in range(k):
                dot += q[f] * p[f]
            for j in range(start, stop):
                i = indices[j]
                q = qi[i]
                err = ratings[j] - (mu + b_u + bi[i] + dot)
                if biased:
                    b_u += lr_bu * (err - reg_bu * b_u)
                    bi[i] += lr_bi * (err - reg_bi * bi[i])
                if j + 1 < stop:  # update, and sum the next rating's dot on the way
                    nxt = qi[indices[j + 1]]
                    dot = zero
                    for f in range(k):
                        pf = p[f]
                        qf = q[f]
                        new_p = pf + lr_pu * (err * qf - reg_pu * pf)
                        q[f] = qf + lr_qi * (err * pf - reg_qi * qf)
                        p[f] = new_p
                        dot += nxt[f] * new_p
                else:
                    for f in range(k):
                        pf = p[f]
                        qf = q[f]
                        p[f] = pf + lr_pu * (err * qf - reg_pu * pf)
                        q[f] = qf + lr_qi * (err * pf - reg_qi * qf)
            bu[u] = b_u
        finite = np.isfinite(bu).all() and np.isfinite(bi).all()
        if not (finite and np.isfinite(pu).all() and np.isfinite(qi).all()):
            return e + 1
    return n_epochs
