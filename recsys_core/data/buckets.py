"""User buckets: a stable split of the users so top-N work can run in parallel pieces.

A user's bucket is ``crc32(str(user_id)) mod n_buckets``: the same in every process, on every
machine and in every library version, so the buckets of one run always partition its users
exactly (disjoint, complete) however they are scheduled.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl


def user_buckets(ids: pl.Series, n_buckets: int) -> np.ndarray:
    """The bucket (``0 .. n_buckets - 1``) of each id in ``ids``, as an int64 array."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    hashes = np.fromiter(
        (zlib.crc32(str(v).encode()) for v in ids.to_list()), dtype=np.int64, count=ids.len()
    )
    return hashes % n_buckets


def bucket_members(ids: pl.Series, bucket: int, n_buckets: int) -> pl.Series:
    """The ids in ``ids`` that fall in ``bucket``, in their given order."""
    return ids.filter(pl.Series(user_buckets(ids, n_buckets) == bucket))
