"""The published recommendations table (the contract downstream systems read).

Columns: ``user_id, rank, item_id, score, source, run_id, generated_at``; one row per (user,
rank), ranks 1..N, items the user has rated never included. ``source`` says which model
produced the row; ``generated_at`` is the UTC time of the run.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

PUBLISHED_COLUMNS = ("user_id", "rank", "item_id", "score", "source", "run_id", "generated_at")


def published_table(
    recs: pl.DataFrame, source: str | pl.Expr, run_id: str, generated_at: datetime
) -> pl.DataFrame:
    """Add provenance columns to ``user_id, rank, item_id, score`` lists."""
    source_expr = pl.lit(source) if isinstance(source, str) else source
    return recs.select(
        "user_id",
        pl.col("rank").cast(pl.Int32),
        "item_id",
        pl.col("score").cast(pl.Float64),
        source_expr.cast(pl.String).alias("source"),
        pl.lit(run_id, pl.String).alias("run_id"),
        pl.lit(generated_at, pl.Datetime("us", "UTC")).alias("generated_at"),
    ).sort(["user_id", "rank"])
