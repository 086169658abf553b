"""The report's tables, computed from the long metrics frame (``model, metric, k, segment,
value``)."""

from __future__ import annotations

import polars as pl

__all__ = ["SUMMARY_METRICS", "segment_table", "table_at_k"]

SUMMARY_METRICS = ("ndcg", "precision", "recall", "map", "hit", "coverage", "novelty",
                   "popularity_bias", "exposure_gini", "cold_item_recall", "users",
                   "train_ratings")  # fmt: skip


def table_at_k(metrics: pl.DataFrame, k: int) -> pl.DataFrame:
    """Model x metric at ``k`` (all users), plus RMSE/MAE, models sorted by NDCG."""
    at_k = metrics.filter(
        (pl.col("segment") == "all") & ((pl.col("k") == k) | pl.col("k").is_null())
    )
    wide = at_k.pivot(on="metric", index="model", values="value", aggregate_function="first")
    cols = [
        c for c in ("ndcg", "precision", "recall", "map", "hit", "rmse", "mae") if c in wide.columns
    ]
    rest = [c for c in SUMMARY_METRICS if c in wide.columns and c not in cols]
    return wide.select("model", *cols, *rest).sort("ndcg", descending=True, nulls_last=True)


def segment_table(metrics: pl.DataFrame, k: int) -> pl.DataFrame:
    """Model x segment NDCG@k (and the number of users per segment in the column names)."""
    seg = metrics.filter((pl.col("k") == k) & pl.col("segment").str.ends_with("_users"))
    ndcg = seg.filter(pl.col("metric") == "ndcg")
    if ndcg.height == 0:
        return pl.DataFrame({"model": []}, schema={"model": pl.String})
    wide = ndcg.pivot(on="segment", index="model", values="value", aggregate_function="first")
    users = seg.filter(pl.col("metric") == "users").group_by("segment").agg(pl.col("value").first())
    names = {s: f"{s} (n={int(v):,})" for s, v in users.iter_rows() if v == v}
    return wide.rename({s: names.get(s, s) for s in wide.columns if s != "model"})


def headline(metrics: pl.DataFrame, model: str, k: int, metric: str = "ndcg") -> float | None:
    """``metric@k`` of ``model`` over all users (None when absent)."""
    sel = metrics.filter(
        (pl.col("model") == model)
        & (pl.col("metric") == metric)
        & (pl.col("segment") == "all")
        & (pl.col("k") == k)
    )
    return sel.get_column("value").item(0) if sel.height else None
