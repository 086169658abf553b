"""Offline evaluation of a similar-items table: "because you last watched X".

For each test user with training history, the list is the similar items of the user's *last*
rated training item ``x_u`` (latest timestamp; ties in time by item id, the larger id being the
later, as :func:`recsys_core.data.split.temporal_split` orders them): rank r of the table's rows
for ``x_u`` becomes rank r of the user's list (cut at ``k``). With ``exclude_seen`` the user's
other training items are dropped first and the ranks closed up (the list may then be shorter
than ``k``: the table holds only its ``n`` rows per item).

The lists are scored with :func:`recsys_core.evaluation.metrics.ranking_metrics` against the
test split (relevant = test rating ``>= threshold``; implicit data: threshold 0, every held-out
interaction, :func:`recsys_core.data.interactions.relevance_threshold`), beside popularity's
top-``k`` for the same users (fitted on the same training split, seen items excluded).
"""

from __future__ import annotations

import polars as pl

from recsys_core.errors import DataError
from recsys_core.evaluation.metrics import THRESHOLD, K, ranking_metrics
from recsys_core.models.base import Recommender
from recsys_core.models.popularity import Popularity

__all__ = ["evaluate_similar_items", "last_item_lists"]


def last_items(train: pl.DataFrame) -> pl.DataFrame:
    """``user_id, last_item_id``: each user's latest training item (ties: larger item id)."""
    if "timestamp" not in train.columns or train.get_column("timestamp").null_count():
        raise DataError("similar-items evaluation needs a timestamp on every training rating")
    return (
        train.sort("user_id", "timestamp", "item_id")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("item_id").last().alias("last_item_id"))
    )


def last_item_lists(
    table: pl.DataFrame, train: pl.DataFrame, k: int = K, *, exclude_seen: bool = False
) -> pl.DataFrame:
    """``user_id, rank, item_id, score``: each training user's list from their last item."""
    lists = (
        last_items(train)
        .join(table, left_on="last_item_id", right_on="item_id", how="inner")
        .select("user_id", "rank", pl.col("similar_item_id").alias("item_id"), "score")
    )
    if exclude_seen:
        lists = lists.join(
            train.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti"
        )
    lists = lists.sort("user_id", "rank").with_columns(
        (pl.int_range(pl.len()).over("user_id") + 1).cast(pl.Int32).alias("rank")
    )
    return lists.filter(pl.col("rank") <= k)


def evaluate_similar_items(
    table: pl.DataFrame,
    train: pl.DataFrame,
    test: pl.DataFrame,
    k: int = K,
    threshold: float = THRESHOLD,
    *,
    exclude_seen: bool = False,
    max_users: int | None = None,
    random_state: int = 0,
    popularity: Recommender | None = None,
) -> dict[str, dict[str, float] | int]:
    """``{"similar": metrics, "popularity": metrics, "n_users": int}`` for the test users with
    training history (see the module docstring), or a seeded sample (``random_state``) of at
    most ``max_users`` of them (the evaluation's user sample: the lists and metrics then cost
    what the sample costs). ``popularity``: the popularity model fitted on ``train``, if the
    caller has one (else it is fitted here)."""
    users = test.join(train.select("user_id").unique(), on="user_id", how="semi")
    users = users.get_column("user_id").unique().sort()
    if max_users is not None and users.len() > max_users:
        users = users.sample(max_users, seed=random_state).sort()
    mine = train.filter(pl.col("user_id").is_in(users.implode()))
    lists = last_item_lists(table, mine, k, exclude_seen=exclude_seen)
    popular = (popularity or Popularity().fit(train)).recommend(k, users)
    scored = test.filter(pl.col("user_id").is_in(users.implode()))
    return {
        "similar": ranking_metrics(lists, scored, k, threshold),
        "popularity": ranking_metrics(popular, scored, k, threshold),
        "n_users": users.len(),
    }
