"""Publish layer: this run's lists (staged, checked) -> the live table downstream reads.

``recommendations`` writes the candidate table to the warehouse; blocking checks run on it;
only if they pass does ``published_recommendations`` copy it to
``published/history/<run_id>/`` and atomically replace ``published/recommendations.parquet``
(and ``published/metrics.parquet``). A failed check leaves yesterday's table live.
"""

import json
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import model_path
from pipeline.config import RecsysSettings, run_settings
from pipeline.metadata import column_lineage, data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core import Hybrid, Recommender
from recsys_core.publish.files import (
    copy_atomic,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from recsys_core.publish.history import publish_run
from recsys_core.publish.table import PUBLISHED_COLUMNS, published_table
from recsys_core.report.html import build_report, markdown_summary
from recsys_core.settings import hybrid_params

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


@dg.asset(
    deps=["item_knn_model", "pure_svd_model", "popularity_model", "hybrid_tuning", "evaluation"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="1",
    description="This run's per-user top-N lists: the hybrid of the production item-KNN and "
    "PureSVD models with popularity backfill, staged in the warehouse for the blocking checks "
    "before publishing.",
)
def recommendations(
    context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.MaterializeResult:
    effective = run_settings(settings, data_root)
    n = effective.topn.n
    popularity = Recommender.load(model_path(data_root, "popularity"))
    hybrid = Hybrid.assemble(
        {
            "item_knn": Recommender.load(model_path(data_root, "item_knn")),
            "svd": Recommender.load(model_path(data_root, "pure_svd")),
            "popularity": popularity,
        },
        popularity,
        json.loads(data_root.model("hybrid.json").read_text()),
        **hybrid_params(effective),
    )
    recs = hybrid.recommend_explained(n=n, block_size=effective.topn.block_size)
    table = published_table(recs, context.run.run_id, datetime.now(UTC))
    out = write_parquet_atomic(table, data_root.warehouse(STAGED))
    info = {"n": n, "run_id": context.run.run_id, "settings": effective.to_dict()}
    write_json_atomic(info, data_root.warehouse(STAGED_INFO))
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table, out),
            "users": recs["user_id"].n_unique(),
            "n": n,
            "settings": dg.MetadataValue.json(effective.to_dict()),
        },
        data_version=data_version(out),
    )


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
    table = pl.read_parquet(live)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table, live),
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
    published = pl.read_parquet(data_root.published("recommendations.parquet"))
    train = pl.read_parquet(data_root.warehouse("ratings.parquet"))
    ingest_report = json.loads(data_root.warehouse("ingest_report.json").read_text())
    quarantined = ingest_report["bad_rows"] + ingest_report["duplicates_superseded"]
    summary = {
        "run_id": info["run_id"],
        "ratings": f"{train.height:,}",
        "users": f"{train['user_id'].n_unique():,}",
        "items": f"{train['item_id'].n_unique():,}",
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
