"""Ingest layer: raw rating files -> validated ratings Parquet + quarantine."""

import dagster as dg

from pipeline.config import RecsysSettings, run_settings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core.data.readers import Reader, raw_files
from recsys_core.data.synthetic import demo_ratings
from recsys_core.data.validate import ingest
from recsys_core.publish.files import (
    remove_stale_temps,
    sha256_file,
    write_csv_atomic,
    write_json_atomic,
    write_parquet_atomic,
)

GROUP = "ingest"
OWNERS = ["team:recsys"]
DEMO_FILE = "demo_ratings.csv"


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv"},
    code_version="1",
    description="Raw rating files in $RECSYS_DATA_DIR/raw/ (the demo data is written there "
    "when the folder is empty). First step of every run: removes temporary files an "
    "interrupted run left behind.",
)
def raw_ratings(context: dg.AssetExecutionContext, data_root: DataRoot) -> dg.MaterializeResult:
    for folder in ("warehouse", "models", "published"):
        for stale in remove_stale_temps(data_root.base / folder):
            context.log.warning("removed %s, left by an interrupted run", stale)
    files = raw_files(data_root.raw_dir)
    if not files:
        demo = data_root.raw_dir / DEMO_FILE
        frame = demo_ratings().rename({"user_id": "userId", "item_id": "itemId"})
        context.log.info("raw folder empty: writing %d demo ratings to %s", frame.height, demo)
        files = [write_csv_atomic(frame, demo)]
    listing = {f.name: f.stat().st_size for f in files}
    return dg.MaterializeResult(
        metadata={"files": dg.MetadataValue.json(listing), "file_count": len(files)},
        data_version=dg.DataVersion(":".join(sha256_file(f)[:12] for f in files)),
    )


@dg.asset(
    deps=[raw_ratings],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="2",
    description="Validated ratings (user_id, item_id, rating, timestamp; one row per pair) and "
    "the quarantine of rows set aside (file, line, reason, raw).",
)
def ratings(settings: RecsysSettings, data_root: DataRoot) -> dg.MaterializeResult:
    cfg = run_settings(settings, data_root).ingest
    reader = Reader(
        line_format=cfg.line_format,
        sep=cfg.sep,
        rating_scale=cfg.rating_scale,
        skip_lines=cfg.skip_lines,
    )
    result = ingest(raw_files(data_root.raw_dir), reader, cfg.max_bad_fraction)
    out = write_parquet_atomic(result.ratings, data_root.warehouse("ratings.parquet"))
    write_parquet_atomic(result.quarantine, data_root.warehouse("quarantine.parquet"))
    report = {**result.counts, "rating_scale": list(reader.rating_scale)}
    write_json_atomic(report, data_root.warehouse("ingest_report.json"))
    return dg.MaterializeResult(
        metadata={**table_metadata(result.ratings, out), **result.counts},
        data_version=data_version(out),
    )
