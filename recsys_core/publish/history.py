"""Versioned publishing: each run's files under ``history/<run_id>/``, the live copies beside.

Layout of the published folder (one per data root, so the history is per data root)::

    recommendations.parquet, metrics.parquet,  the live files (each replaced atomically)
    similar_items.parquet, default_list.parquet,
    report.html, run.json
    CURRENT.json                               {"run_id", "schema_version"} of the live files,
                                               written last
    history/<run_id>/                          the same files as that run published them

Publishing copies a run into its history folder first, then replaces the live files in the fixed
order of :data:`LIVE_FILES` and writes ``CURRENT.json`` last; rolling back does the same from an
earlier run's folder. A live file the run does not have (an optional one: the report, the run
record) is removed, so the live set never mixes two runs. Each file is always whole (a SIGKILL
at any point leaves every live file whole, old or new); a reader that needs a consistent set
reads ``history/<CURRENT run_id>/``.

Run ids match :data:`RUN_ID` (Dagster's run ids do) and are resolved inside ``history/``: a
relative path such as ``../../x``, an absolute path or a symlink leading outside is refused.
A unique prefix names a run (:func:`resolve_run`), as in git.

The run record ``run.json`` (:func:`run_record`) holds the run id, the UTC date, the data root,
the input files with their row counts, the ratings and users counted, NDCG@10, the gate result,
the settings and the night's fingerprint (:mod:`recsys_core.publish.fingerprint`);
:func:`runs` lists the records, oldest first, marking the live one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys_core.errors import DataError, DataWarning
from recsys_core.publish.files import copy_atomic, failpoint, write_json_atomic
from recsys_core.publish.table import SCHEMA_VERSION

__all__ = [
    "CURRENT",
    "LIVE_FILES",
    "RUN_ID",
    "RunRow",
    "current_run",
    "make_live",
    "prune",
    "publish_run",
    "records",
    "resolve_run",
    "run_folder",
    "run_ids",
    "run_record",
    "runs",
]

LIVE_FILES = (
    "recommendations.parquet",
    "metrics.parquet",
    "similar_items.parquet",
    "default_list.parquet",
    "report.html",
    "run.json",
)
"""The published files of a run, in the order they are replaced (``CURRENT.json`` comes last)."""
REQUIRED = LIVE_FILES[:2]
RUN_RECORD = "run.json"
CURRENT = "CURRENT.json"
HISTORY = "history"
TRASH = ".trash-"  # a pruned run's folder is renamed to this first, so it vanishes at once
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclass(frozen=True)
class RunRow:
    """One published run, as listed by :func:`runs` (``None``: not in its run record)."""

    run_id: str
    date: str | None
    data_root: str | None
    ratings: int | None
    users: int | None
    ndcg: float | None
    gate: str | None
    live: bool
    kind: str = "night"
    """``night`` or ``refresh`` (fresh lists for some users from a night's models)."""


def run_record(
    run_id: str,
    *,
    data_root: str | os.PathLike,
    inputs: dict[str, int],
    ratings: int,
    users: int,
    ndcg: float | None,
    gate: str,
    settings: dict[str, Any],
    k: int = 10,
    coverage: float | None = None,
    seconds: float | None = None,
    chosen: dict[str, Any] | None = None,
    fingerprint: dict[str, str] | None = None,
    date: datetime | None = None,
) -> dict[str, Any]:
    """The run record to publish as ``run.json``: what the run listing, the report's header and
    its trends read (``inputs``: raw file name -> rows read; ``ndcg`` and ``coverage``: the
    published model's at ``k`` on the test split; ``gate``: the quality gate's result, e.g.
    ``"passed"``; ``seconds``: the run's duration so far; ``chosen``: what the night chose
    (hyperparameters, blend weights); ``fingerprint``: what the night's content depends on,
    :mod:`recsys_core.publish.fingerprint`, by which a night on the same input is skipped;
    ``date``: now, in UTC)."""
    when = (date or datetime.now(UTC)).astimezone(UTC)
    return {
        "run_id": _valid(run_id),
        "date": when.isoformat(timespec="seconds"),
        "data_root": str(data_root),
        "inputs": dict(sorted(inputs.items())),
        "ratings": int(ratings),
        "users": int(users),
        "k": int(k),
        "ndcg": None if ndcg is None else float(ndcg),
        "coverage": None if coverage is None else float(coverage),
        "seconds": None if seconds is None else float(seconds),
        "gate": gate,
        "settings": settings,
        "chosen": chosen or {},
        "fingerprint": fingerprint or {},
    }


def records(published: str | os.PathLike) -> list[dict[str, Any]]:
    """Every published run's record (``run.json``), oldest first; runs without one skipped."""
    root = Path(published) / HISTORY
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if f.is_dir() and not f.name.startswith(TRASH)]
    found = [(f, _record(f)) for f in folders]
    return [r for f, r in sorted(found, key=lambda fr: _age(*fr)) if r]


def run_folder(published: str | os.PathLike, run_id: str) -> Path:
    """``published/history/<run_id>``, refusing an invalid id or a folder outside the history."""
    root = (Path(published) / HISTORY).resolve()
    folder = (root / _valid(run_id)).resolve()
    if folder.parent != root:
        raise DataError(f"run {run_id!r} resolves to {folder}, outside {root}; refusing it")
    return folder


def publish_run(
    published: str | os.PathLike,
    run_id: str,
    files: dict[str, str | os.PathLike],
    *,
    keep_runs: int | None = None,
) -> Path:
    """Keep ``files`` (name -> source path) as run ``run_id`` and make that run live.

    ``files`` must hold ``recommendations.parquet`` and ``metrics.parquet``; ``report.html``
    and ``run.json`` go live with them when given; other names are kept in the history only.
    With ``keep_runs``, older runs beyond that many are pruned afterwards (:func:`prune`).
    Returns the live recommendations path.
    """
    folder = run_folder(published, run_id)
    for name in files:
        if not name or name != Path(name).name or name.startswith("."):
            raise DataError(f"published file name {name!r} must be a plain, visible file name")
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise DataError(f"run {run_id!r}: cannot publish without {missing}")
    for name, src in files.items():
        copy_atomic(src, folder / name)
    failpoint("publish:before-live")
    live = make_live(published, run_id)
    if keep_runs is not None:
        prune(published, keep_runs)
    return live


def make_live(published: str | os.PathLike, run_id: str) -> Path:
    """Make run ``run_id`` of the history live (publish or roll back); returns the live
    recommendations path."""
    published = Path(published)
    folder = run_folder(published, run_id)
    missing = [f for f in REQUIRED if not (folder / f).is_file()]
    if missing:
        known = ", ".join(run_ids(published)) or "none"
        raise DataError(f"run {run_id!r} has no published {missing} (published runs: {known})")
    for name in LIVE_FILES:
        if (folder / name).is_file():
            copy_atomic(folder / name, published / name)
        else:  # an optional file this run lacks: never leave another run's copy live
            (published / name).unlink(missing_ok=True)
    write_json_atomic({"run_id": run_id, "schema_version": SCHEMA_VERSION}, published / CURRENT)
    return published / LIVE_FILES[0]


def current_run(published: str | os.PathLike) -> str | None:
    """The run whose files are live, or None before the first publish."""
    path = Path(published) / CURRENT
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["run_id"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path} is not a valid CURRENT file: {err}") from err


def run_ids(published: str | os.PathLike) -> list[str]:
    """Published run ids, oldest first (run record date, else when the run was published)."""
    root = Path(published) / HISTORY
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and RUN_ID.fullmatch(p.name)]
    records = {p.name: _record(p) for p in folders}
    return sorted(records, key=lambda name: _age(root / name, records[name]))


def runs(published: str | os.PathLike) -> list[RunRow]:
    """The published runs, oldest first, one row each from its run record."""
    live = current_run(published)
    root = Path(published) / HISTORY
    return [_row(name, _record(root / name), name == live) for name in run_ids(published)]


def resolve_run(published: str | os.PathLike, prefix: str) -> str:
    """The one published run whose id is ``prefix`` or starts with it."""
    known = run_ids(published)
    if prefix in known:
        return prefix
    if not RUN_ID.fullmatch(prefix):
        raise DataError(f"{prefix!r} is not a run id (expected {RUN_ID.pattern})")
    matches = [r for r in known if r.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DataError(f"run id prefix {prefix!r} is ambiguous: {', '.join(matches)}")
    raise DataError(
        f"no published run starts with {prefix!r} (published runs: {', '.join(known) or 'none'})"
    )


def prune(published: str | os.PathLike, keep_runs: int = 30) -> list[str]:
    """Delete the oldest history folders beyond the newest ``keep_runs``; never the live run.
    Returns the deleted run ids."""
    if isinstance(keep_runs, bool) or not isinstance(keep_runs, int) or keep_runs < 1:
        raise DataError(f"keep_runs must be an integer >= 1, got {keep_runs!r}")
    root = Path(published) / HISTORY
    live = current_run(published)
    known = run_ids(published)
    doomed = [r for r in known[: max(len(known) - keep_runs, 0)] if r != live]
    for run_id in doomed:  # rename first: a kill mid-delete leaves no half run in the listing
        os.replace(root / run_id, root / f"{TRASH}{run_id}")
    if root.is_dir():
        for trash in root.glob(f"{TRASH}*"):
            shutil.rmtree(trash)
    return doomed


def _valid(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise DataError(
            f"invalid run id {run_id!r}: expected 1-128 letters, digits, '_' or '-', "
            "starting with a letter or digit (a run id, not a path)"
        )
    return run_id


def _record(folder: Path) -> dict[str, Any]:
    path = folder / RUN_RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        warnings.warn(f"unreadable run record {path}: {err}", DataWarning, stacklevel=3)
        return {}
    return record if isinstance(record, dict) else {}


def _age(folder: Path, record: dict[str, Any]) -> tuple[float, int, str]:
    """Sort key: the record's date, then when the run was published, then the id."""
    marker = folder / REQUIRED[0]  # written once, when the run was published
    published = (marker if marker.exists() else folder).stat().st_mtime_ns
    try:
        date = datetime.fromisoformat(record["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        date = published / 1e9
    return date, published, folder.name


def _row(run_id: str, record: dict[str, Any], live: bool) -> RunRow:
    ratings = record.get("ratings")
    if ratings is None and isinstance(record.get("inputs"), dict):
        ratings = sum(record["inputs"].values())
    return RunRow(
        run_id=run_id,
        date=record.get("date"),
        data_root=record.get("data_root"),
        ratings=ratings,
        users=record.get("users"),
        ndcg=record.get("ndcg"),
        gate=record.get("gate"),
        live=live,
        kind=record.get("kind", "night"),
    )
