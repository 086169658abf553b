"""Fresh lists between nights: the night's side (the default list, the refresh base) and the
``refresh`` job's assets (new files -> the day's ratings -> refreshed table -> checks -> publish).

A refresh reads only raw files that are new or changed since the live run, validates them with
the ingest's rules, and rewrites the lists of exactly the users whose ratings changed, from the
night's models (:mod:`recsys_core.ranking.refresh`); every other row stays as it is. It is
published like a night (own run id, history entry, rollback) after the same blocking checks.
"""

import time

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.checks import RECOMMENDATION_CHECKS, list_problems, require_gates_passed
from pipeline.lock import DataRootLock
from pipeline.metadata import content_version, output, table_metadata
from pipeline.publishing import Published
from pipeline.refreshing import (
    night_n,
    pending_night,
    plan_refresh,
    publish_refresh,
    refresh_record,
    refreshed_rule_problems,
    refreshed_table,
)
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core import Hybrid
from recsys_core.publish.files import remove_stale_temps
from recsys_core.publish.table import COLUMN_DOCS
from recsys_core.ranking.refresh import default_list, rated_pairs

GROUP = "refresh"
REFRESH_CHECKS = {
    **RECOMMENDATION_CHECKS,
    "excluded": "No row this refresh wrote breaks a business rule (rules/ in the data root).",
}
REFRESH_GATES = [
    dg.AssetCheckKey(dg.AssetKey("refreshed_recommendations"), n) for n in REFRESH_CHECKS
]
DEFAULT_COLUMNS = {
    "rank": "1..N, best first.",
    "item_id": "The item's own id.",
    "score": "The fallback's z-score over the whole catalogue (the lists' unit).",
    "source": "popularity (the fallback).",
}


@dg.asset(
    name="default_list",
    group_name="publish",
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="1",
    metadata={"columns": DEFAULT_COLUMNS},
    description="The fallback's top-N for a user nobody has seen (no rating at all), from the "
    "published hybrid; published as published/default_list.parquet with the lists.",
)
def default_list_table(settings: RecsysSettings, hybrid_model: Hybrid) -> dg.Output:
    return output(default_list(hybrid_model, settings.effective.topn.n))


@dg.multi_asset(
    outs={
        "refresh_model": dg.AssetOut(
            kinds={"numpy"},
            description="A copy of the live night's hybrid: refreshes score with "
            "it (a night that fails its gate leaves it in place).",
        ),
        "refresh_base": dg.AssetOut(
            kinds={"json"},
            description="What refreshes build on: the night's run id, the raw "
            "files it read (size, sha256), its id types and its model's content version.",
        ),
    },
    group_name="publish",
    deps=["published_recommendations"],
    code_version="1",
)
def refresh_base(context: dg.AssetExecutionContext, hybrid_model: Hybrid, raw_files: dict):
    data = hybrid_model.data
    types = {"user_id": str(data.users.dtype), "item_id": str(data.items.dtype)}
    yield output(hybrid_model, "refresh_model")  # first: a base names only a model on disk
    base = {"run_id": context.run.run_id, "files": raw_files, "id_types": types,
            "model_version": content_version(hybrid_model).value}  # fmt: skip
    yield output(base, "refresh_base")


@dg.multi_asset(
    outs={
        "refresh_plan": dg.AssetOut(
            kinds={"json"},
            description="What this refresh found: the "
            "live run, the night, the files read, or why it stopped.",
        ),
        "day_ratings": dg.AssetOut(
            is_required=False,
            kinds={"polars", "parquet"},
            description="Every rating read since the night, one per pair.",
        ),
        "day_changes": dg.AssetOut(
            is_required=False,
            kinds={"polars", "parquet"},
            description="The day's ratings this refresh added or changed.",
        ),
        "refresh_quarantine": dg.AssetOut(
            is_required=False,
            kinds={"polars", "parquet"},
            description="Rows of the files read, set aside.",
        ),
    },
    group_name=GROUP,
    code_version="1",
    description="First step of a refresh: takes the data root's lock (and removes temporary "
    "files an interrupted run left), stops if a night is "
    "queued or running (it supersedes the refresh), reads the raw files new or changed since "
    "the live run with the ingest's rules, and merges them into the day's ratings.",
)
def refresh_ratings(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    lock: DataRootLock,
    refresh_base: dict,
):
    if data_root.is_local:
        for stale in remove_stale_temps(data_root.local()):
            context.log.warning("removed %s, left by an interrupted run", stale)
    night = pending_night(context.instance)
    if night is not None:
        yield output({"stopped": f"superseded by night {night}"}, "refresh_plan")
        return
    plan = plan_refresh(data_root, settings.effective.ingest, refresh_base)
    yield output(plan.record, "refresh_plan", **{"stopped": plan.record.get("stopped", "no")})
    if plan.day is not None:
        yield output(plan.day, "day_ratings")
        yield output(plan.changes, "day_changes")
        yield output(plan.quarantine, "refresh_quarantine")


@dg.multi_asset(
    outs={
        "refreshed_recommendations": dg.AssetOut(
            is_required=False,
            kinds={"polars", "parquet"},
            metadata={"columns": COLUMN_DOCS},
            description="The live table with the lists of the users whose ratings changed "
            "rewritten from the night's models (fold-in); every other row as it was.",
        ),
        "refresh_record": dg.AssetOut(
            is_required=False, kinds={"json"}, description="The refresh's run record (run.json)."
        ),
    },
    group_name=GROUP,
    code_version="1",
)
def refreshed_recommendations(
    context: dg.AssetExecutionContext,
    data_root: DataRoot,
    refresh_model: Hybrid,
    refresh_base: dict,
    refresh_plan: dict,
    day_ratings: pl.DataFrame,
    day_changes: pl.DataFrame,
):
    if content_version(refresh_model).value != refresh_base["model_version"]:
        raise dg.Failure("refresh refused: the kept model is not the night's refresh_base names "
                         "(a night stopped while keeping it); the next night fixes it")  # fmt: skip
    run_id = context.run.run_id
    table, fold = refreshed_table(data_root, refresh_model, refresh_plan, day_ratings,
                                  day_changes, run_id)  # fmt: skip
    if table is None:
        context.log.info("the new ratings change no user's ratings of the night's items")
        return
    rated = rated_pairs(refresh_model.data, day_ratings)
    seconds = time.time() - context.instance.get_run_stats(run_id).start_time
    record = refresh_record(data_root, refresh_plan, table, rated, fold, run_id, seconds)
    yield output(table, "refreshed_recommendations", **record["refresh"])
    yield output(record, "refresh_record")


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset="refreshed_recommendations",
            blocking=True,
            description=text,
            additional_deps=["refresh_model", "day_ratings", "refresh_plan"],
        )
        for name, text in REFRESH_CHECKS.items()
    ],
    ins={
        "refreshed_recommendations": dg.AssetIn(),
        "refresh_model": dg.AssetIn(),
        "day_ratings": dg.AssetIn(),
        "refresh_plan": dg.AssetIn(),
    },
)
def refreshed_recommendations_checks(
    context: dg.AssetCheckExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    refreshed_recommendations: pl.DataFrame,
    refresh_model: Hybrid,
    day_ratings: pl.DataFrame,
    refresh_plan: dict,
):
    table, rated = refreshed_recommendations, rated_pairs(refresh_model.data, day_ratings)
    problems = list_problems(settings, table, rated, night_n(refresh_plan))
    mine = table.filter(pl.col("run_id") == context.run.run_id)
    problems |= refreshed_rule_problems(data_root, mine, refresh_model)
    for name in REFRESH_CHECKS:
        yield dg.AssetCheckResult(asset_key=dg.AssetKey("refreshed_recommendations"),
                                  check_name=name, passed=name not in problems,
                                  metadata={"problem": problems.get(name, "none")})  # fmt: skip


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet"},
    code_version="1",
    description="Makes the refreshed table live (published/recommendations.parquet, with the "
    "night's metrics, similar items and default list, the report with a refresh section and "
    "the refresh's run.json; CURRENT.json last), kept under published/history/<run_id>/ like "
    "a night, only after every check on refreshed_recommendations passed in this run.",
)
def published_refresh(
    context: dg.AssetExecutionContext,
    settings: RecsysSettings,
    data_root: DataRoot,
    lock: DataRootLock,
    refreshed_recommendations: pl.DataFrame,
    refresh_record: dict,
    refresh_plan: dict,
    day_ratings: pl.DataFrame,
) -> dg.MaterializeResult:
    require_gates_passed(context, REFRESH_GATES, "refresh")
    table, record = refreshed_recommendations, refresh_record
    keep = settings.effective.publish.keep_runs
    publish_refresh(Published(data_root), table, refresh_plan, record, day_ratings, keep)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table, COLUMN_DOCS),
            "run_id": record["run_id"],
            **record["refresh"],
        },
        data_version=content_version(table),
    )
