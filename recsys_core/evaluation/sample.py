"""A bounded evaluation of the rating models: a seeded sample of users.

The rating models (biased MF, the rating blend) are evaluated beside the hybrid for RMSE/MAE;
they do not make the lists. Their cost grows faster than the ratings (the blend's item and user
similarities), so the night fits and scores them on the ratings of a sample of users: users are
drawn in a seeded random order and taken while their training ratings add up to at most
``max_ratings`` (always at least one user). Each sampled user keeps all their ratings, and
their test pairs are the ones scored, so the metrics are those of the same protocol on fewer
users; the item side sees fewer ratings, so RMSE is somewhat higher than a fit on everything
would give. The metrics table records how many training ratings each model was fitted on
(``train_ratings``) and how many users its lists were judged on (``users``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_core.params import require

__all__ = ["same_users", "sample_users"]


def sample_users(
    ratings: pl.DataFrame, max_ratings: int | None, random_state: int = 0
) -> pl.DataFrame:
    """The rows of ``ratings`` of a seeded user sample holding at most ``max_ratings`` rows
    (all of ``ratings`` when None or when they fit), in their original order."""
    require(max_ratings is None or max_ratings >= 1, "max_ratings", max_ratings, ">= 1 or None")
    if max_ratings is None or ratings.height <= max_ratings:
        return ratings
    counts = ratings.group_by("user_id").len().sort("user_id")
    order = np.random.default_rng(random_state).permutation(counts.height)
    total = np.cumsum(counts.get_column("len").to_numpy()[order])
    take = max(1, int(np.searchsorted(total, max_ratings, side="right")))
    users = counts.get_column("user_id").gather(np.sort(order[:take]))
    return ratings.filter(pl.col("user_id").is_in(users.implode()))


def same_users(test: pl.DataFrame, sample: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``test`` whose user is in ``sample`` (the test side of a sampled train)."""
    return test.join(sample.select("user_id").unique(), on="user_id", how="semi")
