"""Sums over co-rating columns, for a block of rows, by sparse matrix products.

For rows x, x' of a ratings matrix ``X`` (x = items and columns y = users when item-based; the
transpose when user-based), the similarity measures need sums over ``Y_xx'``, the columns where
both rows have a rating. With ``B`` the 0/1 pattern of ``X``, ``X2`` the squared ratings and
``D`` baseline residuals, each is one product:

    freq = |Y_xx'|                       = (B  B^T)[x, x']
    prods = sum r_xy r_x'y               = (X  X^T)[x, x']
    si = sum r_xy,   sj = sum r_x'y      = (X  B^T), (B  X^T)
    sqi = sum r_xy^2, sqj = sum r_x'y^2  = (X2 B^T), (B  X2^T)

A product's output pattern is that of ``freq`` minus entries whose sum is exactly 0 (scipy drops
them); :func:`aligned` puts each product back on ``freq``'s pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools

DIRECT_LIMIT = 1 << 24
"""Largest dense block (rows x columns) whose product skips scipy's counting pass."""


@dataclass(frozen=True)
class RowOperands:
    """One value array on the pattern of ``X`` as left (rows) and right (transposed) operand."""

    left: sp.csr_matrix
    right: sp.csr_matrix


class CoRating:
    """Operands of the co-rating products for the rows of ``X`` (CSR, sorted indices).

    ``values`` maps a name to an array aligned with ``X.data`` (e.g. ratings, squared ratings,
    residuals); the 0/1 pattern is always available as ``"one"``.
    """

    def __init__(self, x: sp.csr_matrix, values: dict[str, np.ndarray]) -> None:
        self.shape = x.shape
        self._indices, self._indptr = x.indices, x.indptr
        order = sp.csr_matrix(
            (np.arange(x.nnz, dtype=np.int64), x.indices, x.indptr), shape=x.shape
        ).T.tocsr()
        self._t_order = order.data
        self._t_indices, self._t_indptr = order.indices, order.indptr
        self.operands = {"one": self._make(np.ones(x.nnz))}
        for name, data in values.items():
            self.operands[name] = self._make(np.asarray(data, dtype=np.float64))

    def _make(self, data: np.ndarray) -> RowOperands:
        n_x, n_y = self.shape
        left = sp.csr_matrix((data, self._indices, self._indptr), shape=(n_x, n_y))
        right = sp.csr_matrix(
            (data[self._t_order], self._t_indices, self._t_indptr), shape=(n_y, n_x)
        )
        return RowOperands(left, right)

    def freq(self, start: int, stop: int) -> sp.csr_matrix:
        """``(B B^T)[start:stop]``: common-rater counts, the block's pattern."""
        one = self.operands["one"]
        return block_product(one.left[start:stop], one.right)

    def sum(self, freq: sp.csr_matrix, left: str, right: str, start: int, stop: int) -> np.ndarray:
        """``(L R^T)[start:stop]`` for operands named ``left``/``right``, on ``freq``'s pattern."""
        product = block_product(self.operands[left].left[start:stop], self.operands[right].right)
        return aligned(freq, product)


def block_product(left: sp.csr_matrix, right: sp.csr_matrix) -> sp.csr_matrix:
    """``left @ right`` (both CSR, float64) for a block of rows.

    scipy's ``@`` first walks the whole product once just to count its entries; a block has at
    most rows x columns of them, so when that bound is small the output is allocated at the
    bound and filled by scipy's own kernel in one walk (``_sparsetools.csr_matmat``, the routine
    ``@`` itself calls). Same entries, same order, same values.
    """
    (n_rows, _), n_cols = left.shape, right.shape[1]
    bound = n_rows * n_cols
    if bound > DIRECT_LIMIT or left.dtype != np.float64 or right.dtype != np.float64:
        return left @ right
    big = max(bound, left.nnz, right.nnz, n_cols + 1) >= np.iinfo(np.int32).max
    idx = np.int64 if big else np.int32
    indptr = np.empty(n_rows + 1, dtype=idx)
    indices = np.empty(bound, dtype=idx)
    data = np.empty(bound)
    _sparsetools.csr_matmat(
        n_rows, n_cols,
        left.indptr.astype(idx, copy=False), left.indices.astype(idx, copy=False), left.data,
        right.indptr.astype(idx, copy=False), right.indices.astype(idx, copy=False), right.data,
        indptr, indices, data,
    )  # fmt: skip
    nnz = int(indptr[-1])
    if 2 * nnz < bound:  # do not keep a mostly empty buffer alive
        indices, data = indices[:nnz].copy(), data[:nnz].copy()
    else:
        indices, data = indices[:nnz], data[:nnz]
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))


def aligned(pattern: sp.csr_matrix, product: sp.csr_matrix) -> np.ndarray:
    """Values of ``product`` at the entries of ``pattern`` (0 where ``product`` has none).

    ``product``'s entries must be a subset of ``pattern``'s. scipy emits a product's entries in
    an order fixed by the operands' patterns, so when nothing was dropped the arrays already
    line up; otherwise entries are matched by (row, column).
    """
    same = product.nnz == pattern.nnz and np.array_equal(product.indptr, pattern.indptr)
    if same and np.array_equal(product.indices, pattern.indices):
        return product.data
    n_cols = pattern.shape[1]
    key_p = _keys(pattern, n_cols)
    key_q = _keys(product, n_cols)
    order = np.argsort(key_p, kind="stable")
    pos = order[np.searchsorted(key_p, key_q, sorter=order)]
    out = np.zeros(pattern.nnz, dtype=np.float64)
    out[pos] = product.data
    return out


def _keys(m: sp.csr_matrix, n_cols: int) -> np.ndarray:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows * n_cols + m.indices
