"""Beyond accuracy: what the lists do to the catalogue, and who they serve.

With ``n_i`` the training ratings of item i and ``U`` the training users:

- novelty: mean over recommended rows of the self-information ``-log2(n_i / |U|)``;
- popularity bias: share of recommended rows whose item is among the 10% most rated items;
- exposure Gini: Gini coefficient of how often each catalogue item is recommended (0 = every
  item equally often, 1 = one item gets everything), ``sum_i (2i - m - 1) x_(i) / (m sum x)``
  over the sorted counts ``x_(1) <= ... <= x_(m)``;
- user segments by training ratings: ``cold`` (< 5), ``heavy`` (the top 10%), ``warm`` (the rest);
- cold items (< ``cold_item_ratings`` training ratings): recall of relevant cold test items.
"""

from __future__ import annotations

import numpy as np
import polars as pl

COLD_USER_RATINGS = 5
HEAVY_SHARE = 0.10
TOP_SHARE = 0.10


def item_counts(train: pl.DataFrame) -> pl.DataFrame:
    """``item_id, n`` training ratings per item."""
    return train.group_by("item_id").agg(pl.len().alias("n"))


def novelty(recs: pl.DataFrame, train: pl.DataFrame) -> float:
    """Mean self-information of recommended items (bits)."""
    n_users = train.get_column("user_id").n_unique()
    info = recs.join(item_counts(train), on="item_id", how="left").select(
        -(pl.col("n").fill_null(1) / n_users).log(2)
    )
    return float(info.to_series().mean()) if recs.height else float("nan")


def popularity_bias(recs: pl.DataFrame, train: pl.DataFrame) -> float:
    """Share of recommended rows from the ``TOP_SHARE`` most rated items."""
    counts = item_counts(train).sort(["n", "item_id"], descending=[True, False])
    top = counts.head(max(1, int(np.ceil(TOP_SHARE * counts.height))))
    if recs.height == 0:
        return float("nan")
    return recs.join(top, on="item_id", how="semi").height / recs.height


def exposure_gini(recs: pl.DataFrame, n_items: int) -> float:
    """Gini coefficient of recommendation counts over a catalogue of ``n_items``."""
    counts = recs.group_by("item_id").len().get_column("len").to_numpy().astype(np.float64)
    x = np.sort(np.concatenate([np.zeros(max(n_items - len(counts), 0)), counts]))
    m = len(x)
    if m == 0 or x.sum() == 0:
        return float("nan")
    i = np.arange(1, m + 1)
    return float(np.sum((2 * i - m - 1) * x) / (m * x.sum()))


def user_segments(train: pl.DataFrame) -> pl.DataFrame:
    """``user_id, segment`` with segment in cold / warm / heavy."""
    counts = train.group_by("user_id").agg(pl.len().alias("n"))
    heavy_from = counts.get_column("n").quantile(1 - HEAVY_SHARE, interpolation="higher")
    return counts.select(
        "user_id",
        pl.when(pl.col("n") < COLD_USER_RATINGS)
        .then(pl.lit("cold"))
        .when(pl.col("n") >= heavy_from)
        .then(pl.lit("heavy"))
        .otherwise(pl.lit("warm"))
        .alias("segment"),
    )


def cold_item_recall(
    recs: pl.DataFrame,
    test: pl.DataFrame,
    train: pl.DataFrame,
    k: int,
    threshold: float,
    cold_item_ratings: int = 5,
) -> float:
    """Share of relevant test pairs on cold items (but seen in training) found in the top-k."""
    cold = item_counts(train).filter(pl.col("n") < cold_item_ratings).select("item_id")
    relevant = test.filter(pl.col("rating") >= threshold).join(cold, on="item_id", how="semi")
    if relevant.height == 0:
        return float("nan")
    top = recs.filter(pl.col("rank") <= k)
    return relevant.join(top, on=["user_id", "item_id"], how="semi").height / relevant.height
