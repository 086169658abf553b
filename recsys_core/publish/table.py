"""The published recommendations table (the contract downstream systems read).

Columns: ``user_id, rank, item_id, score, source, explanation, run_id, generated_at``; one row
per (user, rank), ranks 1..N, items the user has rated never included. ``source`` says which
model produced the row (``hybrid``, ``item_knn``, ``svd``, ``popularity``); ``explanation`` lists
up to 3 of the user's rated items behind the row (empty for popularity rows);
``generated_at`` is the UTC time of the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import polars as pl

PUBLISHED_COLUMNS = (
    "user_id",
    "rank",
    "item_id",
    "score",
    "source",
    "explanation",
    "run_id",
    "generated_at",
)


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def published_table(
    recs: Frame, run_id: str, generated_at: datetime, source: str | None = None
) -> Frame:
    """Add provenance to ``user_id, rank, item_id, score[, source][, explanation]`` lists;
    ``source`` names the producer when ``recs`` has no ``source`` column. A lazy frame stays
    lazy (the combined buckets are streamed to disk, never held whole)."""
    schema = recs.collect_schema()
    if "source" not in schema:
        if source is None:
            raise ValueError("recs has no 'source' column: pass source=")
        recs = recs.with_columns(pl.lit(source).alias("source"))
    if "explanation" not in schema:
        recs = recs.with_columns(pl.lit([], dtype=pl.List(schema["item_id"])).alias("explanation"))
    return recs.select(
        "user_id",
        pl.col("rank").cast(pl.Int32),
        "item_id",
        pl.col("score").cast(pl.Float64),
        pl.col("source").cast(pl.String),
        "explanation",
        pl.lit(run_id, pl.String).alias("run_id"),
        pl.lit(generated_at, pl.Datetime("us", "UTC")).alias("generated_at"),
    ).sort(["user_id", "rank"])
