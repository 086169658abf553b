"""Accuracy and ranking metrics.

Notation: for a user u, ``L_u`` is the recommended list cut at ``k`` (ranks 1..k), ``R_u`` the
set of the user's relevant test items (test rating >= ``threshold``), ``rel_u(i)`` is 1 when the
item at rank i is in ``R_u``. Ranking metrics are averaged over users with ``|R_u| >= 1``; such a
user with no recommendations scores 0.

- ``precision@k = |L_u ∩ R_u| / k``
- ``recall@k = |L_u ∩ R_u| / |R_u|``
- ``hit@k = 1 if |L_u ∩ R_u| > 0 else 0``
- ``ndcg@k = DCG / IDCG`` with binary gain, ``DCG = sum_i rel_u(i) / log2(i + 1)`` and
  ``IDCG = sum_{i=1}^{min(k, |R_u|)} 1 / log2(i + 1)``
- ``map@k``: mean over users of ``AP = (1 / min(k, |R_u|)) * sum_i rel_u(i) * precision@i``
"""

from __future__ import annotations

import numpy as np
import polars as pl

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit")

K = 10
"""Default list cut ``k`` (the evaluation settings pass their own)."""

THRESHOLD = 4.0
"""Default relevance threshold: on a 1-5 scale, 4 and 5 are "liked"."""


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error, ``sqrt(mean((r - r_hat)^2))``."""
    diff = np.asarray(actual, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error, ``mean(|r - r_hat|)``."""
    diff = np.asarray(actual, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def relevant_items(test: pl.DataFrame, threshold: float = THRESHOLD) -> pl.DataFrame:
    """``user_id, item_id`` of test ratings at or above ``threshold``."""
    return test.filter(pl.col("rating") >= threshold).select("user_id", "item_id")


def per_user_ranking(
    recs: pl.DataFrame, test: pl.DataFrame, k: int = K, threshold: float = THRESHOLD
) -> pl.DataFrame:
    """One row per user with a relevant test item: ``user_id, n_relevant`` and each metric."""
    relevant = relevant_items(test, threshold).with_columns(pl.lit(True).alias("rel"))
    n_rel = relevant.group_by("user_id").agg(pl.len().alias("n_relevant"))
    top = recs.filter(pl.col("rank") <= k).select("user_id", "item_id", "rank")
    top = top.join(n_rel.select("user_id"), on="user_id", how="semi")
    hits = (
        top.join(relevant, on=["user_id", "item_id"], how="left")
        .with_columns(pl.col("rel").fill_null(False).cast(pl.Float64))
        .sort(["user_id", "rank"])
        .with_columns(pl.col("rel").cum_sum().over("user_id").alias("cum_hits"))
        .group_by("user_id")
        .agg(
            pl.col("rel").sum().alias("hits"),
            (pl.col("rel") / (pl.col("rank").cast(pl.Float64) + 1).log(2)).sum().alias("dcg"),
            (pl.col("rel") * pl.col("cum_hits") / pl.col("rank")).sum().alias("ap_sum"),
        )
    )
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    out = n_rel.join(hits, on="user_id", how="left").with_columns(
        pl.col("hits", "dcg", "ap_sum").fill_null(0.0)
    )
    capped = np.minimum(out.get_column("n_relevant").to_numpy().astype(np.int64), k)
    idcg = pl.Series(ideal[capped])
    return out.select(
        "user_id",
        "n_relevant",
        (pl.col("hits") / k).alias("precision"),
        (pl.col("hits") / pl.col("n_relevant")).alias("recall"),
        (pl.col("dcg") / idcg).alias("ndcg"),
        (pl.col("ap_sum") / pl.Series(capped.astype(np.float64))).alias("map"),
        (pl.col("hits") > 0).cast(pl.Float64).alias("hit"),
    ).sort("user_id")


def ranking_metrics(
    recs: pl.DataFrame, test: pl.DataFrame, k: int = K, threshold: float = THRESHOLD
) -> dict[str, float]:
    """Means of :func:`per_user_ranking` over users with a relevant item (NaN if none)."""
    per_user = per_user_ranking(recs, test, k, threshold)
    if per_user.height == 0:
        return {m: float("nan") for m in RANKING_METRICS}
    return {m: float(per_user.get_column(m).mean()) for m in RANKING_METRICS}


def catalog_coverage(recs: pl.DataFrame, n_items: int) -> float:
    """Share of the catalogue (``n_items`` training items) recommended to at least one user."""
    if n_items == 0:
        return float("nan")
    return recs.get_column("item_id").n_unique() / n_items
