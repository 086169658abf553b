"""Learned state of a biased factor model and the two ways it is read: pairs and blocks.

Notation (as in Surprise): ``mu`` is the global mean rating, ``b_u`` and ``b_i`` the user and
item biases, ``p_u`` and ``q_i`` the user and item factor vectors (rows of ``pu`` and ``qi``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys_core.errors import DataError

PAIR_CHUNK = 1 << 18
"""Pairs estimated at once by :meth:`BiasedFactors.estimate` (bounds the ``pairs x k`` gather)."""

ROW_TILE = 16
"""Blocks of rows are padded to a multiple of this before a product (see :func:`rows_times`)."""


def rows_times(left: np.ndarray, rows: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left[rows] @ right`` whose rows do not depend on which other rows are in the block.

    BLAS computes a leftover group of rows (block size not a multiple of its kernel's tile) and
    a single row (matrix-vector) with differently rounded code, so the same user could score
    differently alone and in a block. Padding the block with zero rows to a multiple of
    :data:`ROW_TILE` sends every row through the same kernel, making scores independent of the
    block size (measured bitwise on OpenBLAS for 6 to 300 factors).
    """
    pad = (-len(rows)) % ROW_TILE
    block = left[np.concatenate([rows, np.full(pad, -1)])] if pad else left[rows]
    if pad:
        block[len(rows) :] = 0.0
    return (block @ right)[: len(rows)]


@dataclass(frozen=True)
class Terms:
    """Per-term learning rates and regularisation (``bu, bi, pu, qi``), resolved from params."""

    lr_bu: float
    lr_bi: float
    lr_pu: float
    lr_qi: float
    reg_bu: float
    reg_bi: float
    reg_pu: float
    reg_qi: float


def init_factors(
    n_users: int, n_items: int, k: int, mean: float, std: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``p_u`` then ``q_i`` drawn from ``N(mean, std^2)``; biases start at 0 (as in Surprise)."""
    pu = rng.normal(mean, std, (n_users, k))
    qi = rng.normal(mean, std, (n_items, k))
    return pu, qi


@dataclass(frozen=True)
class BiasedFactors:
    """``r_hat_ui = offset + b_u + b_i + q_i^T p_u`` for a known user and item.

    ``offset`` is ``mu`` for the biased model and 0 for the unbiased one (whose biases are 0).
    A pair with an unknown user or item falls back to the biases it has:
    ``mu + b_i`` (unknown user), ``mu + b_u`` (unknown item), ``mu`` (both unknown).
    """

    mu: float
    offset: float
    bu: np.ndarray
    bi: np.ndarray
    pu: np.ndarray
    qi: np.ndarray
    _aug: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def check_finite(self, where: str) -> None:
        """Raise :class:`DataError` if any bias or factor is NaN or infinite."""
        for name in ("bu", "bi", "pu", "qi"):
            if not np.isfinite(getattr(self, name)).all():
                raise DataError(
                    f"{where}: {name} became NaN/inf (the fit diverged); "
                    "lower the learning rates or raise the regularisation"
                )

    def estimate(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Estimates for index pairs (-1 = unknown), vectorised in chunks of pairs."""
        out = np.empty(len(users), dtype=np.float64)
        for s in range(0, len(users), PAIR_CHUNK):
            out[s : s + PAIR_CHUNK] = self._estimate(
                users[s : s + PAIR_CHUNK], items[s : s + PAIR_CHUNK]
            )
        return out

    def _estimate(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        ku, ki = u >= 0, i >= 0
        both = ku & ki
        est = np.full(len(u), self.mu)
        est[ku] += self.bu[u[ku]]
        est[ki] += self.bi[i[ki]]
        uu, ii = u[both], i[both]
        dots = np.einsum("ij,ij->i", self.pu[uu], self.qi[ii])
        est[both] += dots + (self.offset - self.mu)
        return est

    def score_block(self, users: np.ndarray) -> np.ndarray:
        """Unclipped ``r_hat`` of ``users`` (indices) x every item: one matrix product.

        ``[p_u, 1, offset + b_u] @ [q_i, b_i, 1]^T`` holds the biases in the same product.
        """
        if not self._aug:
            ones_u, ones_i = np.ones((len(self.bu), 1)), np.ones((len(self.bi), 1))
            self._aug["user"] = np.hstack([self.pu, ones_u, (self.offset + self.bu)[:, None]])
            self._aug["item"] = np.ascontiguousarray(
                np.hstack([self.qi, self.bi[:, None], ones_i]).T
            )
        return rows_times(self._aug["user"], users, self._aug["item"])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``.npz`` storage."""
        return {
            "mu": np.asarray(self.mu),
            "offset": np.asarray(self.offset),
            "bu": self.bu,
            "bi": self.bi,
            "pu": self.pu,
            "qi": self.qi,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BiasedFactors:
        """Inverse of :meth:`to_arrays`."""
        return cls(
            mu=float(arrays["mu"]),
            offset=float(arrays["offset"]),
            bu=arrays["bu"],
            bi=arrays["bi"],
            pu=arrays["pu"],
            qi=arrays["qi"],
        )
