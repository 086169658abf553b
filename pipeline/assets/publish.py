"""Publish layer: this run's lists (staged, checked) -> the live table downstream reads.

``recommendations`` writes the candidate table to the warehouse; blocking checks run on it;
only if they pass does ``published_recommendations`` copy it to
``published/history/<run_id>/`` and atomically replace ``published/recommendations.parquet``
(and ``published/metrics.parquet``). A failed check leaves yesterday's table live.
"""

import json
import shutil
import warnings
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import load_hybrid
from pipeline.config import LOAD_TIME, RecsysSettings, run_settings
from pipeline.metadata import column_lineage, data_version, parquet_metadata
from pipeline.resources import DataRoot
from recsys_core.data.buckets import bucket_members
from recsys_core.publish.files import (
    atomic_write,
    copy_atomic,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from recsys_core.publish.history import publish_run
from recsys_core.publish.table import PUBLISHED_COLUMNS, published_table
from recsys_core.report.html import build_report, markdown_summary

GROUP = "publish"
STAGED = "recommendations.parquet"
STAGED_INFO = "recommendations.json"
MODEL_SCORES = [
    ("item_knn_model", "score"),
    ("pure_svd_model", "score"),
    ("popularity_model", "score"),
]
LINEAGE = {
    "user_id": [("ratings", "user_id")],
    "item_id": [("ratings", "item_id")],
    "score": MODEL_SCORES,
    "rank": MODEL_SCORES,
    "source": MODEL_SCORES,
    "explanation": [("ratings", "item_id"), ("item_knn_model", "score")],
}


BUCKETS = LOAD_TIME.execution.buckets
BUCKET_DIR = "buckets"
ROW_GROUP = 100_000
UPSTREAM = ["item_knn_model", "pure_svd_model", "popularity_model", "hybrid_tuning", "evaluation"]


def _bucket_op(bucket: int) -> dg.OpDefinition:
    @dg.op(
        name=f"rank_bucket_{bucket}",
        ins={name: dg.In(dg.Nothing) for name in UPSTREAM},
        out=dg.Out(dg.Nothing),
        description=f"Top-N lists of the users in bucket {bucket} of {BUCKETS} "
        "(crc32 of the user id), written to warehouse/buckets/<run_id>/.",
    )
    def _rank(
        context: dg.OpExecutionContext, settings: RecsysSettings, data_root: DataRoot
    ) -> None:
        effective = run_settings(settings, data_root)
        hybrid = load_hybrid(data_root, effective)
        users = bucket_members(hybrid.data.users.ids, bucket, BUCKETS)
        context.log.info("bucket %d of %d: %d users", bucket, BUCKETS, users.len())
        recs = hybrid.recommend_explained(
            n=effective.topn.n, users=users, block_size=effective.topn.block_size
        )
        path = data_root.warehouse(BUCKET_DIR, context.run.run_id, f"{bucket:03d}.parquet")
        write_parquet_atomic(recs, path)

    return _rank


BUCKET_OPS = [_bucket_op(b) for b in range(BUCKETS)]


@dg.op(
    ins={f"bucket_{b}": dg.In(dg.Nothing) for b in range(BUCKETS)},
    description="Combines the buckets into the staged table (sorted by user and rank, written "
    "in row groups by a streaming sink) and records the run's settings beside it.",
)
def stage_recommendations(
    context: dg.OpExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.Output:
    effective = run_settings(settings, data_root)
    run_id, n = context.run.run_id, effective.topn.n
    folder = data_root.warehouse(BUCKET_DIR, run_id, ".")
    parts = [folder / f"{b:03d}.parquet" for b in range(BUCKETS)]
    lazy = published_table(pl.scan_parquet(parts), run_id, datetime.now(UTC))
    out = atomic_write(
        data_root.warehouse(STAGED),
        lambda tmp: lazy.sink_parquet(tmp, row_group_size=ROW_GROUP, statistics=True),
    )
    used = effective.to_dict()
    info = {"n": n, "run_id": run_id, "buckets": BUCKETS, "settings": used}
    write_json_atomic(info, data_root.warehouse(STAGED_INFO))
    for old in folder.parent.iterdir():  # this run's buckets, and any a failed run left
        shutil.rmtree(old, ignore_errors=True)
    users = pl.scan_parquet(out).select(pl.col("user_id").n_unique()).collect().item()
    with warnings.catch_warnings():  # data_version on an op output is Beta; the asset needs it
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(
            None,
            metadata={
                **parquet_metadata(out),
                "dagster/column_lineage": column_lineage(LINEAGE),
                "users": users,
                "n": n,
                "buckets": BUCKETS,
                "settings": dg.MetadataValue.json(used),
            },
            data_version=data_version(out),
        )


@dg.graph_asset(
    name="recommendations",
    ins={name: dg.AssetIn(dagster_type=dg.Nothing) for name in UPSTREAM},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    description="This run's per-user top-N lists: the hybrid of the production item-KNN and "
    "PureSVD models with popularity backfill, ranked in execution.buckets user buckets (in "
    "parallel under the multiprocess or k8s executor) and staged in the warehouse for the "
    "blocking checks before publishing.",
)
def recommendations(item_knn_model, pure_svd_model, popularity_model, hybrid_tuning, evaluation):
    # Nothing-typed inputs: they order the steps; the files pass through the data root
    upstream = dict(zip(UPSTREAM, [item_knn_model, pure_svd_model, popularity_model,
                                   hybrid_tuning, evaluation], strict=True))  # fmt: skip
    ranked = {f"bucket_{b}": op(**upstream) for b, op in enumerate(BUCKET_OPS)}
    return stage_recommendations(**ranked)


@dg.asset(
    deps=[recommendations],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet"},
    code_version="1",
    description="The live table downstream systems read: "
    "$RECSYS_DATA_DIR/published/recommendations.parquet (" + ", ".join(PUBLISHED_COLUMNS) + "), "
    "replaced atomically; each run's copy kept under published/history/<run_id>/.",
)
def published_recommendations(data_root: DataRoot) -> dg.MaterializeResult:
    staged = data_root.warehouse(STAGED)
    run_id = pl.read_parquet(staged, columns=["run_id"]).get_column("run_id").unique().item()
    files = {
        "recommendations.parquet": staged,
        "metrics.parquet": data_root.warehouse("metrics.parquet"),
        "run.json": data_root.warehouse(STAGED_INFO),
    }
    live = publish_run(data_root.published(), run_id, files)
    return dg.MaterializeResult(
        metadata={
            **parquet_metadata(live),
            "dagster/column_lineage": column_lineage(
                {c: [("recommendations", c)] for c in PUBLISHED_COLUMNS}
            ),
            "run_id": run_id,
        },
        data_version=data_version(live),
    )


@dg.asset(
    deps=[published_recommendations],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"html"},
    code_version="1",
    description="published/report.html: model comparison, NDCG@k/precision@k curves, popularity "
    "of recommended items vs the catalogue, per-segment table, run parameters and data summary.",
)
def report(data_root: DataRoot) -> dg.MaterializeResult:
    info = json.loads(data_root.warehouse(STAGED_INFO).read_text())
    k = info["settings"]["evaluation"]["k"]
    metrics = pl.read_parquet(data_root.warehouse("metrics.parquet"))
    published = pl.read_parquet(
        data_root.published("recommendations.parquet"), columns=["user_id", "item_id", "source"]
    )
    ratings = pl.scan_parquet(data_root.warehouse("ratings.parquet"))
    counts = ratings.select(pl.len(), pl.col("user_id").n_unique(), pl.col("item_id").n_unique())
    n_ratings, n_users, n_items = counts.collect().row(0)
    train = ratings.select("item_id").collect()  # the catalogue's popularity profile
    ingest_report = json.loads(data_root.warehouse("ingest_report.json").read_text())
    quarantined = ingest_report["bad_rows"] + ingest_report["duplicates_superseded"]
    summary = {
        "run_id": info["run_id"],
        "ratings": f"{n_ratings:,}",
        "users": f"{n_users:,}",
        "items": f"{n_items:,}",
        "quarantined rows": f"{quarantined:,}",
        "lists published": f"{published['user_id'].n_unique():,} x {info['n']}",
    }
    page = build_report(metrics, published, train, summary, info["settings"], k)
    out = write_text_atomic(page, data_root.published("report.html"))
    copy_atomic(out, data_root.published("history", info["run_id"], "report.html"))
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": str(out),
            "summary": dg.MetadataValue.md(markdown_summary(metrics, k)),
        },
        data_version=data_version(out),
    )
