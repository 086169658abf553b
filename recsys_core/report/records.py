"""Run records: the few numbers of each run that the report's trends and file changes need.

A record is a small JSON object kept beside each published run, at
``published/history/<run_id>/record.json``::

    {"run_id": ..., "date": "2026-11-30T16:20:00+00:00", "data_root": ..., "ndcg": 0.21,
     "coverage": 0.35, "users": 943, "rows": 100000, "seconds": 312.5,
     "files": [["u.data", 100000]]}

The trends are the records of one data root, oldest first, the current run's included; the
previous run's ``files`` are what this run's inputs are compared with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recsys_core.publish.files import write_json_atomic
from recsys_core.report.inputs import TREND_COLUMNS
from recsys_core.report.tables import headline

__all__ = [
    "RECORD",
    "TREND_SCHEMA",
    "load_run_records",
    "previous_files",
    "run_record",
    "save_run_record",
    "trends_frame",
]

RECORD = "record.json"
TREND_SCHEMA = {
    "run_id": pl.String,
    "date": pl.Datetime("us", "UTC"),
    "ndcg": pl.Float64,
    "coverage": pl.Float64,
    "users": pl.Int64,
    "rows": pl.Int64,
    "seconds": pl.Float64,
}


def run_record(
    run_id: str,
    generated_at: datetime,
    data_root: str,
    metrics: pl.DataFrame,
    files: Sequence[tuple[str, int]],
    users: int,
    seconds: float,
    k: int = 10,
    model: str = "hybrid",
) -> dict[str, Any]:
    """This run's record: ``model``'s NDCG@k and coverage from ``metrics``, users with a
    published list, input rows (the sum over ``files``) and the run time in seconds."""
    return {
        "run_id": run_id,
        "date": generated_at.isoformat(),
        "data_root": data_root,
        "ndcg": headline(metrics, model, k),
        "coverage": headline(metrics, model, k, "coverage"),
        "users": int(users),
        "rows": sum(int(r) for _, r in files),
        "seconds": float(seconds),
        "files": [[str(n), int(r)] for n, r in files],
    }


def save_run_record(published: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` to ``history/<run_id>/record.json`` (atomically)."""
    return write_json_atomic(dict(record), Path(published) / "history" / record["run_id"] / RECORD)


def load_run_records(published: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run record under ``published/history/`` (runs without one are skipped), oldest
    first by date."""
    root = Path(published) / "history"
    paths = sorted(root.glob(f"*/{RECORD}")) if root.is_dir() else []
    records = [json.loads(p.read_text()) for p in paths]
    return sorted(records, key=lambda r: r["date"])


def trends_frame(
    records: Iterable[Mapping[str, Any]], data_root: str, last: int = 30
) -> pl.DataFrame:
    """The last ``last`` records of ``data_root`` as the report's trends frame, oldest first;
    a run id recorded twice (a re-run) counts once, its newest record kept."""
    mine = {r["run_id"]: r for r in sorted(records, key=lambda r: r["date"])}
    rows = [r for r in mine.values() if r["data_root"] == data_root]
    frame = pl.DataFrame(
        {c: [r.get(c) for r in rows] for c in TREND_COLUMNS if c != "date"}
        | {"date": [datetime.fromisoformat(r["date"]) for r in rows]},
        schema=TREND_SCHEMA,
    )
    return frame.select(TREND_COLUMNS).sort("date").tail(last)


def previous_files(
    records: Iterable[Mapping[str, Any]], data_root: str, run_id: str
) -> list[tuple[str, int]] | None:
    """The input files of the run of ``data_root`` before ``run_id`` (the newest other run when
    ``run_id`` has no record yet); None if there is none."""
    mine = [r for r in records if r["data_root"] == data_root]
    this = [r["date"] for r in mine if r["run_id"] == run_id]
    earlier = [r for r in mine if r["run_id"] != run_id and (not this or r["date"] < this[0])]
    if not earlier:
        return None
    newest = max(earlier, key=lambda r: r["date"])
    return [(str(n), int(r)) for n, r in newest.get("files", [])]
