"""Counts and squared differences over co-rating columns in one sparse product (for ``msd``).

When ratings take a few values on a half-point grid (1..5 stars, 0.5..5 half stars), group the
columns of ``X`` by (rating level v, y): the left operand ``A`` has a 1 at ``(x, (v, y))`` when
``r_xy = v``; the right operand has ``(v - r_x'y)^2 + K`` at ``((v, y), x')`` when x' rated y.
Then

    (A C)[x, x'] = sum_{y in Y_xx'} ((r_xy - r_x'y)^2 + K) = sq_diff + K * freq

costs what one pattern product costs (each rating of x meets each rating of its column once),
instead of the four products of the generic path. Every term is a multiple of 1/4, and ``K`` is
a power of two above any possible ``sq_diff``, so the sum is exact in float64 and splits back
into ``freq`` and ``sq_diff`` without rounding: results equal the generic path's bit for bit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_core.models.knn.corating import block_product

MAX_LEVELS = 16
"""More distinct rating values than this use the generic path (memory grows with levels)."""

EXACT = 2.0**51
"""Multiples of 1/4 below this are exact in float64."""


class PackedSquaredDiffs:
    """``freq`` and ``sum (r_xy - r_x'y)^2`` for blocks of rows of ``x`` in one product each."""

    def __init__(self, x: sp.csr_matrix, levels: np.ndarray, k: float) -> None:
        n_x, n_y = x.shape
        self.shape, self.k = x.shape, k
        level = np.searchsorted(levels, x.data).astype(np.int64)
        self.left = sp.csr_matrix(
            (np.ones(x.nnz), level * n_y + x.indices, x.indptr), shape=(n_x, len(levels) * n_y)
        )
        xt = sp.csr_matrix(x.T)  # y x x', sorted indices
        xt.sort_indices()
        data = np.concatenate([(v - xt.data) ** 2 + k for v in levels])
        indices = np.tile(xt.indices, len(levels))
        steps = np.arange(len(levels), dtype=np.int64)[:, None] * xt.nnz
        indptr = np.concatenate(([0], (steps + xt.indptr[1:][None, :]).ravel()))
        self.right = sp.csr_matrix((data, indices, indptr), shape=(len(levels) * n_y, n_x))

    @classmethod
    def build(cls, x: sp.csr_matrix) -> PackedSquaredDiffs | None:
        """The packed operands for ``x``, or None when its ratings do not allow exactness."""
        if x.nnz == 0:
            return None
        levels = np.unique(x.data)
        on_grid = np.array_equal(levels * 2, np.round(levels * 2))
        if len(levels) > MAX_LEVELS or not on_grid:
            return None
        n_y = x.shape[1]
        max_sq_diff = float(levels[-1] - levels[0]) ** 2 * n_y
        k = 2.0 ** np.ceil(np.log2(max_sq_diff + 1.0))
        if k * n_y + max_sq_diff >= EXACT:
            return None
        return cls(x, levels, float(k))

    def block(self, start: int, stop: int) -> tuple[sp.csr_matrix, np.ndarray]:
        """``(freq, sq_diff)`` for rows ``start:stop``: counts as a CSR, sums on its entries."""
        out = block_product(self.left[start:stop], self.right)
        freq = np.floor(out.data / self.k)
        sq_diff = out.data - self.k * freq
        return sp.csr_matrix((freq, out.indices, out.indptr), shape=out.shape), sq_diff
