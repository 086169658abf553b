"""Versioned publishing: each run's files under ``history/<run_id>/``, the live copies beside.

Layout of the published folder::

    recommendations.parquet, metrics.parquet   the live tables (replaced atomically)
    CURRENT.json                               {"run_id": ...} of the live tables
    history/<run_id>/                          recommendations.parquet, metrics.parquet, run.json

Publishing copies a run into its history folder first, then replaces each live file atomically
(recommendations first, then metrics) and writes ``CURRENT.json`` last; rolling back replaces the
live files with an earlier run's copies the same way. Each file is always whole; a reader that
needs the two tables from the same run reads ``history/<CURRENT run_id>/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from recsys_core.errors import DataError
from recsys_core.publish.files import copy_atomic, failpoint, write_json_atomic

LIVE_FILES = ("recommendations.parquet", "metrics.parquet")
CURRENT = "CURRENT.json"


def publish_run(published: str | os.PathLike, run_id: str, files: dict[str, Path]) -> Path:
    """Keep ``files`` (name -> source path) as run ``run_id`` and make that run live."""
    folder = Path(published) / "history" / run_id
    for name, src in files.items():
        copy_atomic(src, folder / name)
    failpoint("publish:before-live")
    return make_live(published, run_id)


def make_live(published: str | os.PathLike, run_id: str) -> Path:
    """Point the live tables at run ``run_id`` of the history (publish or roll back)."""
    published = Path(published)
    folder = published / "history" / run_id
    missing = [f for f in LIVE_FILES if not (folder / f).is_file()]
    if missing:
        known = ", ".join(runs(published)) or "none"
        raise DataError(f"run {run_id!r} has no published {missing} (published runs: {known})")
    for name in LIVE_FILES:
        copy_atomic(folder / name, published / name)
    write_json_atomic({"run_id": run_id}, published / CURRENT)
    return published / LIVE_FILES[0]


def current_run(published: str | os.PathLike) -> str | None:
    """The run whose tables are live, or None before the first publish."""
    path = Path(published) / CURRENT
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


def runs(published: str | os.PathLike) -> list[str]:
    """Published runs, oldest first (by the time their history folder was written)."""
    root = Path(published) / "history"
    if not root.is_dir():
        return []
    return [
        p.name for p in sorted(root.iterdir(), key=lambda p: p.stat().st_mtime_ns) if p.is_dir()
    ]
