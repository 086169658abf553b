"""Raw ids <-> contiguous indices (mapped once, at the boundary) and the user x item CSR.

Vocabulary (as in Surprise): *raw ids* are the user's own ids (integers or strings); *indices*
are 0..n-1 positions. Raw ids are sorted, so index order is raw-id order: ties broken "by item
index" are ties broken by the smaller item id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.errors import DataError

RATING_COLUMNS = ("user_id", "item_id", "rating")


@dataclass(frozen=True)
class IdIndex:
    """A sorted array of distinct raw ids; an id's index is its position."""

    ids: pl.Series

    @classmethod
    def from_series(cls, raw: pl.Series) -> IdIndex:
        """Index of the distinct values of ``raw`` (sorted)."""
        return cls(raw.unique().sort().rename("id"))

    def __len__(self) -> int:
        return self.ids.len()

    @property
    def dtype(self) -> pl.DataType:
        return self.ids.dtype

    def index_of(self, raw: pl.Series | list | np.ndarray) -> np.ndarray:
        """Indices of ``raw`` ids as int64, -1 for ids not in the index."""
        series = raw if isinstance(raw, pl.Series) else pl.Series(raw)
        if series.dtype != self.ids.dtype:
            series = series.cast(self.ids.dtype, strict=False)
        mapping = pl.DataFrame({"key": self.ids, "idx": np.arange(len(self), dtype=np.int64)})
        out = (
            pl.DataFrame({"key": series})
            .join(mapping, on="key", how="left", maintain_order="left", nulls_equal=False)
            .get_column("idx")
        )
        return out.fill_null(-1).to_numpy().astype(np.int64, copy=False)

    def raw(self, idx: np.ndarray) -> pl.Series:
        """Raw ids at indices ``idx`` (all must be valid)."""
        return self.ids.gather(pl.Series(np.asarray(idx, dtype=np.int64)))

    def to_numpy(self) -> np.ndarray:
        """Ids as a numpy array that ``np.savez`` stores as a plain (unicode or integer) array."""
        if self.ids.dtype == pl.String:
            return np.asarray(self.ids.to_list(), dtype=np.str_)
        return self.ids.to_numpy()

    @classmethod
    def from_numpy(cls, arr: np.ndarray) -> IdIndex:
        if arr.dtype.kind == "U":
            return cls(pl.Series("id", arr.tolist(), dtype=pl.String))
        return cls(pl.Series("id", arr))


@dataclass(frozen=True)
class RatingData:
    """Training ratings in index space: id maps plus ``user_items`` (users x items, ratings).

    ``user_items`` is CSR with sorted column indices and float64 ratings; explicit zeros never
    appear because every stored value is a rating from the training frame.
    """

    users: IdIndex
    items: IdIndex
    user_items: sp.csr_matrix
    rating_scale: tuple[float, float]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def global_mean(self) -> float:
        return float(self.user_items.data.mean()) if self.user_items.nnz else float("nan")

    @classmethod
    def from_frame(
        cls, ratings: pl.DataFrame, rating_scale: tuple[float, float] | None = None
    ) -> RatingData:
        """Build ids and the CSR from a frame with ``user_id, item_id, rating``.

        ``rating_scale`` defaults to the (min, max) rating seen.
        """
        missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
        if missing:
            raise DataError(f"ratings frame lacks column(s) {missing}; has {ratings.columns}")
        if ratings.height == 0:
            raise DataError("cannot fit on an empty ratings frame")
        users = IdIndex.from_series(ratings.get_column("user_id"))
        items = IdIndex.from_series(ratings.get_column("item_id"))
        u = users.index_of(ratings.get_column("user_id"))
        i = items.index_of(ratings.get_column("item_id"))
        r = ratings.get_column("rating").cast(pl.Float64).to_numpy()
        matrix = build_csr(u, i, r, (len(users), len(items)))
        if rating_scale is None:
            rating_scale = (float(r.min()), float(r.max()))
        return cls(users, items, matrix, (float(rating_scale[0]), float(rating_scale[1])))

    def index_pairs(self, pairs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """User and item indices of the rows of ``pairs`` (-1 where unknown)."""
        return (
            self.users.index_of(pairs.get_column("user_id")),
            self.items.index_of(pairs.get_column("item_id")),
        )


def build_csr(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix from coordinates with sorted indices; duplicate coordinates are an error."""
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float64), (rows, cols)), shape=shape, dtype=np.float64
    )
    if matrix.nnz != len(values):
        raise DataError("duplicate (user, item) pairs: validate ratings before building a matrix")
    matrix.sort_indices()
    return matrix
