"""Publish layer: this run's lists (ranked in user buckets, staged, checked) -> the live table.

``recommendations`` holds the candidate table; blocking checks run on it; only if they pass does
``published_recommendations`` keep it under ``published/history/<run_id>/`` and make it live
(:mod:`pipeline.publishing`). A failed check leaves yesterday's table live.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import HYBRID_PARTS
from pipeline.io_manager import remove_steps
from pipeline.metadata import column_lineage, content_version, output, table_metadata
from pipeline.publishing import Published, run_files
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME, RecsysSettings
from recsys_core import Hybrid, Recommender
from recsys_core.data.buckets import bucket_members
from recsys_core.publish.table import PUBLISHED_COLUMNS, published_table
from recsys_core.report.html import build_report, markdown_summary, run_summary
from recsys_core.settings import hybrid_params

GROUP = "publish"
BUCKETS = LOAD_TIME.execution.buckets
MODEL_INPUTS = [f"{name}_model" for name in HYBRID_PARTS]
COLUMNS = {
    "user_id": "The user's own id, as in the raw files.",
    "rank": "1..N, best first.",
    "item_id": "The recommended item's own id; never one the user rated.",
    "score": "The blended per-user z-score (finite, never increasing down a list).",
    "source": "The component that scored the row (or 'hybrid' for several, 'popularity').",
    "explanation": "Up to 3 of the user's rated items behind the row (empty for popularity).",
    "run_id": "The Dagster run that produced the table.",
    "generated_at": "When the run built the lists (UTC).",
}
MODEL_SCORES = [(name, "score") for name in MODEL_INPUTS]
LINEAGE = {
    "user_id": [("ratings", "user_id")],
    "item_id": [("ratings", "item_id")],
    "score": MODEL_SCORES,
    "rank": MODEL_SCORES,
    "source": MODEL_SCORES,
    "explanation": [("ratings", "item_id"), ("item_knn_model", "score")],
}


def _bucket_op(bucket: int) -> dg.OpDefinition:
    @dg.op(
        name=f"rank_bucket_{bucket}",
        ins={name: dg.In() for name in ["hybrid_tuning", *MODEL_INPUTS]}
        | {"evaluation": dg.In(dg.Nothing)},
        description=f"Top-N lists of the users in bucket {bucket} of {BUCKETS} (crc32 of the "
        "user id), from the production models and the chosen blend settings.",
    )
    def _rank(
        context: dg.OpExecutionContext,
        settings: RecsysSettings,
        hybrid_tuning: dict,
        **models: Recommender,
    ) -> pl.DataFrame:
        s = settings.effective
        fitted = {name: models[f"{name}_model"] for name in HYBRID_PARTS}
        hybrid = Hybrid.assemble(fitted, fitted["popularity"], hybrid_tuning, **hybrid_params(s))
        users = bucket_members(hybrid.data.users.ids, bucket, BUCKETS)
        context.log.info("bucket %d of %d: %d users", bucket, BUCKETS, users.len())
        return hybrid.recommend_explained(n=s.topn.n, users=users, block_size=s.topn.block_size)

    return _rank


BUCKET_OPS = [_bucket_op(b) for b in range(BUCKETS)]


@dg.op(
    ins={f"bucket_{b}": dg.In() for b in range(BUCKETS)},
    description="Combines the buckets into the staged table, sorted by user and rank.",
)
def stage_recommendations(
    context: dg.OpExecutionContext, data_root: DataRoot, **buckets: pl.DataFrame
) -> dg.Output:
    lists = pl.concat([buckets[f"bucket_{b}"] for b in range(BUCKETS)])
    remove_steps(UPath(data_root.uri))
    table = published_table(lists, context.run.run_id, datetime.now(UTC))
    return output(
        table,
        users=table["user_id"].n_unique(),
        buckets=BUCKETS,
        **{"dagster/column_lineage": column_lineage(LINEAGE)},
    )


@dg.graph_asset(
    name="recommendations",
    ins={"hybrid_tuning": dg.AssetIn(), "evaluation": dg.AssetIn(dagster_type=dg.Nothing)}
    | {name: dg.AssetIn() for name in MODEL_INPUTS},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    metadata={"columns": COLUMNS},
    description="This run's per-user top-N lists: the hybrid of the production models with "
    "popularity backfill, ranked in execution.buckets user buckets (parallel steps under the "
    "multiprocess or k8s executor), staged for the blocking checks before publishing.",
)
def recommendations(hybrid_tuning, evaluation, **models):
    ranked = {
        f"bucket_{b}": op(hybrid_tuning=hybrid_tuning, evaluation=evaluation, **models)
        for b, op in enumerate(BUCKET_OPS)
    }
    return stage_recommendations(**ranked)


def run_record(settings: Mapping, run_id: str, data_root: DataRoot) -> dict:
    """What ``published/history/<run_id>/run.json`` says about a run."""
    return {
        "run_id": run_id,
        "data_root": data_root.uri,
        "settings": dict(settings),
        "published_at": datetime.now(UTC).isoformat(),
    }


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"html"},
    code_version="2",
    description="The run report (published beside the lists): model comparison, NDCG@k curves, "
    "popularity of what we recommend against the catalogue, segments, run parameters.",
)
def report(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    evaluation: pl.DataFrame,
    recommendations: pl.DataFrame,
    ratings: pl.DataFrame,
    quarantine: pl.DataFrame,
) -> dg.Output:
    s = settings.effective
    summary = run_summary(context.run.run_id, ratings, quarantine, recommendations, s.topn.n)
    page = build_report(
        evaluation, recommendations, ratings.select("item_id"), summary, s.to_dict(), s.evaluation.k
    )
    return output(page, summary=dg.MetadataValue.md(markdown_summary(evaluation, s.evaluation.k)))


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet"},
    code_version="2",
    metadata={"columns": COLUMNS},
    description="The live table downstream systems read, "
    "$RECSYS_DATA_DIR/published/recommendations.parquet (" + ", ".join(PUBLISHED_COLUMNS) + "), "
    "replaced atomically together with metrics.parquet, report.html and run.json; each run's "
    "copies are kept under published/history/<run_id>/.",
)
def published_recommendations(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    recommendations: pl.DataFrame,
    evaluation: pl.DataFrame,
    report: str,
) -> dg.MaterializeResult:
    run_id = context.run.run_id
    record = run_record(settings.effective.to_dict(), run_id, data_root)
    with run_files(recommendations, evaluation, report, record) as files:
        Published(data_root).publish(run_id, files)
    lineage = column_lineage({c: [("recommendations", c)] for c in PUBLISHED_COLUMNS})
    return dg.MaterializeResult(
        metadata={
            **table_metadata(recommendations),
            "dagster/column_lineage": lineage,
            "run_id": run_id,
        },
        data_version=content_version(recommendations),
    )
