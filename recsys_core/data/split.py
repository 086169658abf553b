"""Train/test splits. Each returns frames that are disjoint and together hold every input row.

Rows are first put in a canonical order (user, item), so a split depends only on the ratings and
the seed, not on the order the rows arrived in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_core.errors import ConfigError, DataError
from recsys_core.params import require


@dataclass(frozen=True)
class Split:
    """A train/test pair of rating frames."""

    train: pl.DataFrame
    test: pl.DataFrame


def canonical(ratings: pl.DataFrame) -> pl.DataFrame:
    """Ratings sorted by (user_id, item_id): the order every split starts from."""
    return ratings.sort(["user_id", "item_id"], maintain_order=True)


def _by_mask(ratings: pl.DataFrame, test_mask: np.ndarray) -> Split:
    mask = pl.Series(test_mask, dtype=pl.Boolean)
    return Split(ratings.filter(~mask), ratings.filter(mask))


def random_split(ratings: pl.DataFrame, test_fraction: float = 0.2, random_state: int = 0) -> Split:
    """Seeded random split: exactly ``round(n * test_fraction)`` rows go to test."""
    require(0 < test_fraction < 1, "test_fraction", test_fraction, "in (0, 1)")
    ratings = canonical(ratings)
    n = ratings.height
    perm = np.random.default_rng(random_state).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[perm[: round(n * test_fraction)]] = True
    return _by_mask(ratings, mask)


def _require_timestamps(ratings: pl.DataFrame, split: str) -> None:
    if "timestamp" not in ratings.columns or ratings.get_column("timestamp").null_count():
        raise DataError(f"the {split} split needs a timestamp on every rating")


def temporal_split(ratings: pl.DataFrame, n_test: int = 1) -> Split:
    """Per-user leave-last-N: each user's ``n_test`` latest ratings go to test.

    Ties in time are ordered by item id. Users with ``n_test`` ratings or fewer stay wholly in
    train, so every test user has training history. Test rows are never earlier than the same
    user's train rows.
    """
    require(n_test >= 1, "n_test", n_test, ">= 1")
    _require_timestamps(ratings, "temporal")
    ordered = ratings.sort(["user_id", "timestamp", "item_id"])
    from_end = ordered.select(
        (pl.len().over("user_id") - pl.int_range(pl.len()).over("user_id")).alias("k"),
        pl.len().over("user_id").alias("n"),
    )
    mask = ((from_end["k"] <= n_test) & (from_end["n"] > n_test)).to_numpy()
    return _by_mask(ordered, mask)


def time_cutoff_split(
    ratings: pl.DataFrame, cutoff: int | None = None, test_fraction: float = 0.2
) -> Split:
    """Global time cut-off: ratings at or after ``cutoff`` go to test.

    Without ``cutoff``, it is the timestamp quantile that leaves about ``test_fraction`` of the
    ratings in test.
    """
    _require_timestamps(ratings, "time cut-off")
    ratings = canonical(ratings)
    ts = ratings.get_column("timestamp")
    if cutoff is None:
        require(0 < test_fraction < 1, "test_fraction", test_fraction, "in (0, 1)")
        cutoff = int(ts.quantile(1 - test_fraction, interpolation="higher"))
    return _by_mask(ratings, (ts >= cutoff).to_numpy())


def kfold(ratings: pl.DataFrame, n_splits: int = 5, random_state: int = 0) -> Iterator[Split]:
    """Seeded k-fold: every row is in exactly one test fold; fold sizes differ by at most 1."""
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ConfigError(f"invalid value for 'n_splits': {n_splits!r} (expected int >= 2)")
    ratings = canonical(ratings)
    n = ratings.height
    if n < n_splits:
        raise DataError(f"{n} ratings cannot make {n_splits} folds")
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(random_state).permutation(n)] = np.arange(n) % n_splits
    for k in range(n_splits):
        yield _by_mask(ratings, fold == k)
