"""The published folder of a data root: the one place files are still written by hand.

Downstream systems read fixed paths (``published/recommendations.parquet``...), so the publish is
not left to the IO manager: a run's files are first kept under ``published/history/<run_id>/``,
then each live file is replaced whole, ``CURRENT.json`` last
(:mod:`recsys_core.publish.history`). On a local root every replacement is an atomic rename; on
an object-store root the same files are staged locally and uploaded in the same order, each
object under a temporary key moved over its target, so a reader never sees part of one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from upath import UPath

from pipeline.io_manager import ROW_GROUP
from pipeline.resources import DataRoot
from recsys_core.publish import history


class Published:
    """``published/`` of ``data_root`` (see the module docstring)."""

    def __init__(self, data_root: DataRoot) -> None:
        self.root = data_root

    @property
    def remote(self) -> UPath:
        return self.root.upath("published")

    def read_live(self, name: str) -> bytes | None:
        """The bytes of a live file, or None before the first publish."""
        if self.root.is_local:
            path = self.root.local("published", name)
            return path.read_bytes() if path.is_file() else None
        path = self.remote / name
        return path.read_bytes() if path.exists() else None

    def live_metrics(self) -> pl.DataFrame | None:
        data = self.read_live("metrics.parquet")
        return None if data is None else pl.read_parquet(data)

    def current_run(self) -> str | None:
        data = self.read_live(history.CURRENT)
        return None if data is None else json.loads(data)["run_id"]

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A local ``published/`` folder to publish into: the root's own folder, or (for a
        store) a temporary copy whose new files are uploaded, in publish order, at exit."""
        if self.root.is_local:
            yield self.root.local("published", "x").parent
            return
        folder = Path(tempfile.mkdtemp(prefix="recsys-publish-"))
        try:
            yield folder
            written = sorted(
                (p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime_ns
            )
            for local in written:
                _upload(local, self.remote / local.relative_to(folder).as_posix())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def publish(self, run_id: str, files: dict[str, Path]) -> None:
        """Keep ``files`` (name -> local path) as run ``run_id`` and make that run live."""
        with self.staging() as folder:
            history.publish_run(folder, run_id, files)


def _upload(local: Path, target: UPath) -> None:
    """Upload under a temporary key, then move it over ``target`` (whole or nothing)."""
    tmp = target.with_name(f".tmp-{target.name}")
    target.fs.makedirs(target.parent.path, exist_ok=True)
    target.fs.put_file(str(local), tmp.path)
    target.fs.mv(tmp.path, target.path)


@contextmanager
def run_files(
    recommendations: pl.DataFrame, metrics: pl.DataFrame, report: str, record: dict
) -> Iterator[dict[str, Path]]:
    """A run's published files, written to a private temporary folder: name -> path."""
    with tempfile.TemporaryDirectory(prefix="recsys-run-") as tmp:
        folder = Path(tmp)
        files = {
            "recommendations.parquet": folder / "recommendations.parquet",
            "metrics.parquet": folder / "metrics.parquet",
            "report.html": folder / "report.html",
            "run.json": folder / "run.json",
        }
        for name, value in (
            ("recommendations.parquet", recommendations),
            ("metrics.parquet", metrics),
        ):
            value.write_parquet(files[name], row_group_size=ROW_GROUP, statistics=True)
        files["report.html"].write_text(report, encoding="utf-8")
        files["run.json"].write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        yield files
