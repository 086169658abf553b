"""The report's view of the run records (``published/history/<run_id>/run.json``, written by
:func:`recsys_core.publish.history.run_record`): the trends across nights and the previous run's
input files.

The trends are the records of one data root, oldest first, the current run's included; the
previous run's ``inputs`` are what this run's inputs are compared with. Both are about nights:
a refresh's record (``kind: refresh``) repeats its night's evaluation, so it is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from recsys_core.report.inputs import TREND_COLUMNS

__all__ = ["TREND_SCHEMA", "previous_files", "trends_frame"]

TREND_SCHEMA = {
    "run_id": pl.String,
    "date": pl.Datetime("us", "UTC"),
    "ndcg": pl.Float64,
    "coverage": pl.Float64,
    "users": pl.Int64,
    "rows": pl.Int64,
    "seconds": pl.Float64,
}


def _rows(record: Mapping[str, Any]) -> int:
    return sum(int(r) for r in record.get("inputs", {}).values())


def trends_frame(
    records: Iterable[Mapping[str, Any]], data_root: str, last: int = 30
) -> pl.DataFrame:
    """The last ``last`` records of ``data_root`` as the report's trends frame, oldest first;
    a run id recorded twice (a re-run) counts once, its newest record kept."""
    mine = {r["run_id"]: r for r in sorted(_nights(records), key=lambda r: r["date"])}
    rows = [r for r in mine.values() if r["data_root"] == data_root]
    frame = pl.DataFrame(
        {c: [r.get(c) for r in rows] for c in TREND_COLUMNS if c not in ("date", "rows")}
        | {"date": [datetime.fromisoformat(r["date"]) for r in rows]}
        | {"rows": [_rows(r) for r in rows]},
        schema=TREND_SCHEMA,
    )
    return frame.select(TREND_COLUMNS).sort("date").tail(last)


def previous_files(
    records: Iterable[Mapping[str, Any]], data_root: str, run_id: str
) -> list[tuple[str, int]] | None:
    """The input files of the run of ``data_root`` before ``run_id`` (the newest other run when
    ``run_id`` has no record yet); None if there is none."""
    mine = [r for r in _nights(records) if r["data_root"] == data_root]
    this = [r["date"] for r in mine if r["run_id"] == run_id]
    earlier = [r for r in mine if r["run_id"] != run_id and (not this or r["date"] < this[0])]
    if not earlier:
        return None
    newest = max(earlier, key=lambda r: r["date"])
    return [(str(n), int(r)) for n, r in newest.get("inputs", {}).items()]


def _nights(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("kind", "night") != "refresh"]
