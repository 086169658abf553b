"""Publish layer: this run's lists (ranked in user buckets, staged, checked) -> the live table.

``recommendations`` holds the candidate table; blocking checks run on it; only if they pass does
``published_recommendations`` keep it under ``published/history/<run_id>/`` and make it live
(:mod:`pipeline.publishing`). A failed check leaves yesterday's table live.
"""

import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.assets.ingest import OWNERS
from pipeline.checks import GATE_MODEL, require_gates_passed
from pipeline.io_manager import remove_steps
from pipeline.lock import DataRootLock
from pipeline.metadata import column_lineage, content_version, output, table_metadata
from pipeline.publishing import Published, report_inputs, run_files
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME, RecsysSettings
from pipeline.unchanged import run_fingerprint
from recsys_core import Hybrid
from recsys_core.data.buckets import bucket_members
from recsys_core.publish import history
from recsys_core.publish.drift import table_summary
from recsys_core.publish.table import COLUMN_DOCS, PUBLISHED_COLUMNS, published_table
from recsys_core.ranking.removed import ruled, rules_record
from recsys_core.report.html import build_report, markdown_summary
from recsys_core.report.tables import headline

GROUP = "publish"
BUCKETS = LOAD_TIME.execution.buckets
COLUMNS = {
    "user_id": "The user's own id, as in the raw files.",
    "rank": "1..N, best first.",
    "item_id": "The recommended item's own id; never one the user rated.",
    "score": "The blended per-user z-score (finite, never increasing down a list).",
    "source": "The component that ranked the item highest, or 'popularity' (fallback).",
    "explanation": "Up to 3 of the user's rated items behind the row (empty for popularity).",
    "run_id": "The run that computed the row's list (the night, or a refresh).",
    "model_run_id": "The night whose models scored the row.",
    "generated_at": "When the row's list was computed (UTC).",
}
MODEL_SCORES = [("hybrid_model", "score")]
LINEAGE = {
    "user_id": [("ratings", "user_id")],
    "item_id": [("ratings", "item_id")],
    "score": MODEL_SCORES,
    "rank": MODEL_SCORES,
    "source": MODEL_SCORES,
    "explanation": [("ratings", "item_id"), ("hybrid_model", "score")],
}


def _bucket_op(bucket: int) -> dg.OpDefinition:
    @dg.op(
        name=f"rank_bucket_{bucket}",
        ins={"hybrid_model": dg.In(), "business_rules": dg.In(), "evaluation": dg.In(dg.Nothing)},
        description=f"Top-N lists of the users in bucket {bucket} of {BUCKETS} (crc32 of the "
        "user id), from the published hybrid; business-rule exclusions are removed from each "
        "user's candidates inside the top-N, so lists keep N items.",
    )
    def _rank(
        context: dg.OpExecutionContext,
        settings: RecsysSettings,
        hybrid_model: Hybrid,
        business_rules: pl.DataFrame,
    ) -> pl.DataFrame:
        s, hybrid = settings.effective, ruled(hybrid_model, business_rules)
        users = bucket_members(hybrid.data.users.ids, bucket, BUCKETS)
        context.log.debug("bucket %d of %d: %d users", bucket, BUCKETS, users.len())
        t = s.topn
        return hybrid.recommend_explained(t.n, users, block_size=t.block_size, threads=t.threads)

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
    ins={
        "hybrid_model": dg.AssetIn(),
        "business_rules": dg.AssetIn(),
        "evaluation": dg.AssetIn(dagster_type=dg.Nothing),
    },
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    metadata={"columns": COLUMNS},
    description="This run's per-user top-N lists from the published hybrid (popularity "
    "backfill, business rules applied inside the top-N), ranked in execution.buckets user "
    "buckets (parallel steps under the multiprocess or k8s executor), staged for the blocking "
    "checks before publishing.",
)
def recommendations(hybrid_model, business_rules, evaluation):
    ranked = {
        f"bucket_{b}": op(
            hybrid_model=hybrid_model, business_rules=business_rules, evaluation=evaluation
        )
        for b, op in enumerate(BUCKET_OPS)
    }
    return stage_recommendations(**ranked)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"json"},
    code_version="2",
    description="This run's record (published as run.json beside the lists): date, data root, "
    "input files with rows, ratings, users served, NDCG@k and coverage of the published model, "
    "the gate, the effective settings, what the night chose, what the business rules removed and "
    "the night's fingerprint (raw files, settings and code: a night on the same ones is skipped); "
    "the report's trends and the run listing read these records.",
)
def run_record(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    ingest_summary: dict,
    evaluation: pl.DataFrame,
    recommendations: pl.DataFrame,
    hybrid_tuning: dict,
    ratings: pl.DataFrame,
    business_rules: pl.DataFrame,
    raw_files: dict,
) -> dg.Output:
    s, run = settings.effective, context.run.run_id
    started = context.instance.get_run_stats(run).start_time
    record = history.run_record(
        run,
        data_root=data_root.uri,
        inputs=ingest_summary["rows_per_file"],
        ratings=ingest_summary["ratings"],
        users=recommendations["user_id"].n_unique(),
        ndcg=headline(evaluation, GATE_MODEL, s.evaluation.k),
        k=s.evaluation.k,
        coverage=headline(evaluation, GATE_MODEL, s.evaluation.k, "coverage"),
        gate="passed",
        seconds=time.time() - started if started else None,
        settings=s.to_dict(),
        chosen={"hybrid": hybrid_tuning},
        fingerprint=run_fingerprint(raw_files, s, ratings),
    )
    record["summary"] = table_summary(ratings, recommendations, ingest_summary["rows_read"])
    record["rules"] = rules_record(business_rules, ratings)
    return output(record, rules_removed=record["rules"].get("total", "no rules"))


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"html"},
    code_version="4",
    description="The run report (published with the lists): the run, its inputs and the gate's "
    "checks with thresholds and margins; models beside popularity; NDCG@k curves; trends over "
    "the last 30 runs of this data root; popularity of what we recommend; what the business "
    "rules removed; with item metadata, the genre mix and sample lists and similar items in "
    "titles; segments; glossary; the settings that differ from the defaults and what the night "
    "chose.",
)
def report(
    settings: RecsysSettings,
    data_root: DataRoot,
    run_record: dict,
    evaluation: pl.DataFrame,
    recommendations: pl.DataFrame,
    ratings: pl.DataFrame,
    quarantine: pl.DataFrame,
    item_metadata: pl.DataFrame,
    similar_items: pl.DataFrame,
) -> dg.Output:
    inputs = report_inputs(settings.effective, Published(data_root), run_record, evaluation,
                           recommendations, ratings, quarantine, item_metadata,
                           similar_items)  # fmt: skip
    return output(build_report(inputs), summary=dg.MetadataValue.md(markdown_summary(inputs)))


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet"},
    code_version="3",
    description="The live table downstream systems read, "
    "$RECSYS_DATA_DIR/published/recommendations.parquet (" + ", ".join(PUBLISHED_COLUMNS) + "), "
    "made live together with metrics.parquet, similar_items.parquet, default_list.parquet, "
    "report.html and run.json "
    "(CURRENT.json last); "
    "each run's copies are kept under published/history/<run_id>/ (publish.keep_runs of them).",
)
def published_recommendations(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    lock: DataRootLock,
    recommendations: pl.DataFrame,
    evaluation: pl.DataFrame,
    similar_items: pl.DataFrame,
    default_list: pl.DataFrame,
    report: str,
    run_record: dict,
) -> dg.MaterializeResult:
    require_gates_passed(context)
    run_id = context.run.run_id
    tables = (recommendations, evaluation, similar_items, default_list)
    with run_files(*tables, report, run_record) as files:
        Published(data_root).publish(run_id, files, settings.effective.publish.keep_runs)
    lineage = column_lineage({c: [("recommendations", c)] for c in PUBLISHED_COLUMNS})
    return dg.MaterializeResult(
        metadata={
            **table_metadata(recommendations, COLUMN_DOCS),
            "run_id": run_id,
            "dagster/column_lineage": lineage,
        },
        data_version=content_version(recommendations),
    )
