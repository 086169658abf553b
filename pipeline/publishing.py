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
from datetime import datetime
from pathlib import Path

import polars as pl
from upath import UPath

from pipeline.io_manager import ROW_GROUP
from pipeline.resources import DataRoot
from recsys_core.publish import history
from recsys_core.publish.drift import changed_share
from recsys_core.publish.table import write_published
from recsys_core.report.inputs import GateCheck, ReportInputs, quality_gate_checks
from recsys_core.report.records import previous_files, trends_frame
from recsys_core.report.tables import headline
from recsys_core.settings import Settings

GATE_MODEL = "hybrid"
"""The model whose lists are published and whose NDCG@k the gate judges."""


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

    def live_record(self) -> dict | None:
        """The live run's record (``run.json``), or None before the first publish."""
        data = self.read_live(history.RUN_RECORD)
        return None if data is None else json.loads(data)

    def changed_share(self, lists: pl.DataFrame) -> float:
        """The share of users (in both) whose list differs from the live one (NaN: none)."""
        data = self.read_live("recommendations.parquet")
        if data is None:
            return float("nan")
        return changed_share(lists, pl.read_parquet(data, columns=["user_id", "item_id"]))

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
            yield self.root.local("published")
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

    def publish(self, run_id: str, files: dict[str, Path], keep_runs: int) -> None:
        """Keep ``files`` (name -> local path) as run ``run_id`` and make that run live; the
        history keeps the newest ``keep_runs`` runs (a store's history is pruned by hand)."""
        with self.staging() as folder:
            history.publish_run(
                folder, run_id, files, keep_runs=keep_runs if self.root.is_local else None
            )

    def records(self) -> list[dict]:
        """The published runs' records, oldest first (a store's: none are read back)."""
        return history.records(self.root.local("published")) if self.root.is_local else []


def _upload(local: Path, target: UPath) -> None:
    """Upload under a temporary key, then move it over ``target`` (whole or nothing)."""
    tmp = target.with_name(f".tmp-{target.name}")
    target.fs.makedirs(target.parent.path, exist_ok=True)
    target.fs.put_file(str(local), tmp.path)
    target.fs.mv(tmp.path, target.path)


@contextmanager
def run_files(
    recommendations: pl.DataFrame,
    metrics: pl.DataFrame,
    similar: pl.DataFrame,
    default_list: pl.DataFrame,
    report: str,
    record: dict,
) -> Iterator[dict[str, Path]]:
    """A run's published files, written to a private temporary folder: name -> path."""
    with tempfile.TemporaryDirectory(prefix="recsys-run-") as tmp:
        files = {name: Path(tmp) / name for name in history.LIVE_FILES}
        write_published(recommendations, files["recommendations.parquet"], record["run_id"])
        metrics.write_parquet(files["metrics.parquet"], row_group_size=ROW_GROUP, statistics=True)
        provenance = [
            pl.lit(record["run_id"]).alias("run_id"),
            pl.lit(datetime.fromisoformat(record["date"])).alias("generated_at"),
        ]
        similar = similar.with_columns(provenance)
        similar.write_parquet(files["similar_items.parquet"], row_group_size=ROW_GROUP)
        default_list.with_columns(provenance).write_parquet(files["default_list.parquet"])
        files["report.html"].write_text(report, encoding="utf-8")
        files["run.json"].write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        yield files


def report_inputs(
    settings: Settings,
    published: Published,
    record: dict,
    metrics: pl.DataFrame,
    lists: pl.DataFrame,
    ratings: pl.DataFrame,
    quarantine: pl.DataFrame,
    items: pl.DataFrame | None = None,
    similar: pl.DataFrame | None = None,
) -> ReportInputs:
    """What the report shows of this run: its record (with what the business rules removed),
    the gate's checks against the live run (still the previous one: the report is published
    with the lists), the trends of this data root (the earlier records and this one), the
    settings beside the defaults, and the item metadata and similar items for titles."""
    k, gate = settings.evaluation.k, settings.publish
    live = published.live_metrics()
    ndcg = headline(metrics, GATE_MODEL, k)
    live_ndcg = None if live is None else headline(live, GATE_MODEL, k)
    runs, root = [*published.records(), record], record["data_root"]
    observed = float("nan") if ndcg is None else ndcg
    checks = quality_gate_checks(observed, live_ndcg, gate.min_ndcg, gate.max_ndcg_drop)
    popularity = headline(metrics, "popularity", k)
    if popularity is not None:
        bound = gate.min_lift * popularity
        detail = f"publish.min_lift {gate.min_lift:.2f} x popularity's NDCG {popularity:.4f}"
        checks.append(GateCheck("popularity_lift", observed, bound, observed - bound,
                                observed >= bound, detail))  # fmt: skip
    return ReportInputs(
        run_id=record["run_id"],
        generated_at=datetime.fromisoformat(record["date"]),
        data_root=root,
        files=list(record["inputs"].items()),
        previous_files=previous_files(runs, root, record["run_id"]),
        quarantined=quarantine.height,
        metrics=metrics,
        published=lists.select("user_id", "rank", "item_id", "source"),
        train_items=ratings.select("item_id"),
        gate=checks,
        trends=trends_frame(runs, root),
        settings=settings.to_dict(),
        defaults=Settings().to_dict(),
        chosen=record.get("chosen", {}),
        k=k,
        rules=record.get("rules", {}),
        items=items,
        similar=similar,
    )
