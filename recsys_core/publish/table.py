"""The published recommendations table (the contract downstream systems read).

Columns: ``user_id, rank, item_id, score, source, explanation, run_id, model_run_id,
generated_at``; one row per (user, rank), ranks 1..N, items the user has rated never included.
``source`` names the component that ranked the item highest (``ease``, ``ials``, ...) or
``popularity`` (fallback); ``explanation`` lists up to 3 of the user's rated items behind the row
(empty for popularity rows). Provenance is per row: ``run_id`` is the run that computed the
row's list (the night, or a refresh that folded the user's new ratings in), ``model_run_id`` the
night whose models scored it (one value in a table), ``generated_at`` when the row's list was
computed (UTC). After a night every row carries the night's id in both; a refresh rewrites only
the rows of the users it touched. The whole contract, with reading recipes, is
``docs/contract.md``; its changes are in ``CHANGELOG.md``.

:func:`write_published` writes the file the contract describes: Parquet with the key-value
metadata ``recsys.schema_version`` (:data:`SCHEMA_VERSION`), ``recsys.run_id`` (the run that
published the file) and ``recsys.sorted_by``, the sort order also declared as Parquet sorting
columns, row groups of :data:`ROW_GROUP` rows with statistics (a reader looking for one user
skips the others), and every column but ``explanation`` declared non-null in the Parquet schema.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from recsys_core.errors import DataError
from recsys_core.publish.files import atomic_write

__all__ = [
    "COLUMN_DOCS",
    "NON_NULL_COLUMNS",
    "PUBLISHED_COLUMNS",
    "ROW_GROUP",
    "SCHEMA_VERSION",
    "published_table",
    "write_published",
]

PUBLISHED_COLUMNS = (
    "user_id",
    "rank",
    "item_id",
    "score",
    "source",
    "explanation",
    "run_id",
    "model_run_id",
    "generated_at",
)
SCHEMA_VERSION = "3"
"""Version of the published table's contract; bumped on any change a reader must know about
(see ``CHANGELOG.md``)."""
ROW_GROUP = 100_000
NON_NULL_COLUMNS = tuple(c for c in PUBLISHED_COLUMNS if c != "explanation")
"""Columns declared non-null in the Parquet schema (a null there is a broken run)."""
COLUMN_DOCS = {
    "user_id": "The user the row is for, as in the raw files (integer or string ids).",
    "rank": "Position in the user's list, 1 (best) to N, each rank once per user.",
    "item_id": "The recommended item, never one the user has already rated.",
    "score": "The per-user z-score of the blend (the fallback's rows too: one unit): finite, "
    "never increasing down a user's list, comparable within one user only.",
    "source": "The component that ranked the item highest (ease, ials, item_knn, pure_svd) or "
    "popularity (the fallback for users or slots the components cannot score).",
    "explanation": "Up to 3 items the user rated that led to the row; empty for popularity rows.",
    "run_id": "The run that computed the row's list: the night, or a refresh that folded in the "
    "user's new ratings.",
    "model_run_id": "The night whose models scored the row; one value in a table.",
    "generated_at": "UTC time the row's list was computed (its run_id's time).",
}
"""Column -> one sentence, for the UI and the docs."""


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def published_table(
    recs: Frame,
    run_id: str,
    generated_at: datetime,
    source: str | None = None,
    model_run_id: str | None = None,
) -> Frame:
    """Add provenance to ``user_id, rank, item_id, score[, source][, explanation]`` lists;
    ``source`` names the producer when ``recs`` has no ``source`` column; ``model_run_id``
    (default ``run_id``: a night scores with its own models) the night whose models scored
    them. A lazy frame stays lazy (the combined buckets are streamed to disk, never held
    whole)."""
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
        pl.lit(model_run_id or run_id, pl.String).alias("model_run_id"),
        pl.lit(generated_at, pl.Datetime("us", "UTC")).alias("generated_at"),
    ).sort(["user_id", "rank"])


def write_published(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike,
    run_id: str,
    sorted_by: Sequence[str] = ("user_id", "rank"),
    row_group_size: int = ROW_GROUP,
    row_runs: Collection[str] | None = None,
) -> Path:
    """Write a :func:`published_table` frame as the contract's Parquet file, atomically.

    ``run_id`` is the publishing run (the file's ``recsys.run_id``); rows may carry it and the
    run ids of ``row_runs`` only (a refresh keeps earlier runs' rows; default: none other).
    A lazy frame is streamed in batches (never held whole). Raises :class:`DataError` when a
    column is missing, a non-null column holds a null, another run id appears, rows carry more
    than one ``model_run_id``, or the rows are not sorted by ``sorted_by``: the file never
    claims what it does not hold.
    """
    sorted_by = tuple(sorted_by)
    runs = frozenset({run_id, *(row_runs or ())})
    frame = frame.lazy().select(PUBLISHED_COLUMNS)
    schema = _arrow_schema(frame.collect_schema(), run_id, sorted_by)
    sorting = [pq.SortingColumn(PUBLISHED_COLUMNS.index(c)) for c in sorted_by]

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema, write_statistics=True, sorting_columns=sorting) as out:
            for table in _row_groups(frame, schema, runs, sorted_by, row_group_size):
                out.write_table(table, row_group_size=row_group_size)

    return atomic_write(path, write)


def _arrow_schema(schema: pl.Schema, run_id: str, sorted_by: tuple[str, ...]) -> pa.Schema:
    unknown = [c for c in sorted_by if c not in PUBLISHED_COLUMNS]
    if unknown:
        raise DataError(f"sorted_by names unknown column(s) {unknown}")
    empty = pl.DataFrame(schema=schema).to_arrow()
    fields = [empty.schema.field(c).with_nullable(c not in NON_NULL_COLUMNS) for c in schema]
    metadata = {
        "recsys.schema_version": SCHEMA_VERSION,
        "recsys.run_id": run_id,
        "recsys.sorted_by": json.dumps(list(sorted_by)),
    }
    return pa.schema(fields, metadata=metadata)


def _row_groups(
    frame: pl.LazyFrame,
    schema: pa.Schema,
    runs: frozenset[str],
    sorted_by: tuple[str, ...],
    size: int,
) -> Iterator[pa.Table]:
    """Checked arrow tables of exactly ``size`` rows (the last one shorter)."""
    pending: list[pl.DataFrame] = []
    held, last = 0, None
    for batch in frame.collect_batches(chunk_size=size):
        last = _check(batch, runs, sorted_by, last)
        pending.append(batch)
        held += batch.height
        while held >= size:
            whole = pl.concat(pending)
            yield _to_arrow(whole.head(size), schema)
            pending, held = [whole.slice(size)], held - size
    rest = pl.concat(pending) if pending else frame.head(0).collect()
    if rest.height or last is None:  # an empty table still gets its schema
        yield _to_arrow(rest, schema)


def _to_arrow(batch: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return batch.to_arrow().cast(schema)


def _check(
    batch: pl.DataFrame, runs: frozenset[str], sorted_by: tuple[str, ...], last: tuple | None
) -> tuple | None:
    """Nulls, run ids and order of one batch (``last``: the previous batch's last key and
    model run id)."""
    if batch.height == 0:
        return last
    counts = batch.select(NON_NULL_COLUMNS).null_count().row(0, named=True)
    nulls = {c: n for c, n in counts.items() if n}
    if nulls:
        raise DataError(f"null values in non-null column(s) of the published table: {nulls}")
    found = set(batch.get_column("run_id").unique().to_list())
    if not found <= runs:
        raise DataError(
            f"published rows carry run id(s) {sorted(found - runs)}, expected only {sorted(runs)}"
        )
    models = batch.get_column("model_run_id").unique().to_list()
    if len(models) > 1 or (last is not None and models != [last[1]]):
        seen = sorted({*models, *([last[1]] if last else [])})
        raise DataError(f"published rows were scored by several nights' models: {seen}")
    keys = batch.select(sorted_by)
    if not keys.equals(keys.sort(sorted_by)) or (last is not None and keys.row(0) < last[0]):
        raise DataError(f"published rows are not sorted by {list(sorted_by)}")
    return keys.row(-1), models[0]
