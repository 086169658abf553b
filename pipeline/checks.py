"""Blocking asset checks: bad ratings or bad lists stop the run before anything is published."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus,
)

from pipeline.publishing import GATE_MODEL, Published
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core.data.interactions import valid_range
from recsys_core.evaluation.protocol import metric
from recsys_core.publish.checks import quality_problems, ratings_problems, recommendation_problems
from recsys_core.publish.drift import CHECKS, drift_checks, table_summary
from recsys_core.ranking.removed import rule_problems

RATINGS_CHECKS = {
    "schema": "Columns user_id, item_id, rating, timestamp with the documented types.",
    "rating_range": "Every rating within ingest.rating_scale (implicit feedback: every signal "
    ">= 1).",
    "duplicate_pairs": "At most one rating per (user, item).",
}
RECOMMENDATION_CHECKS = {
    "rows_per_user": "Every known user has min(topn.n, candidates) rows.",
    "unknown_ids": "No user or item that is not in the validated ratings.",
    "already_rated": "No item the user has already rated.",
    "ranks": "Ranks are 1..k for each user.",
    "distinct_items": "No item twice in a user's list.",
    "finite_scores": "Every score is a finite number.",
    "business_rules": "No published item is excluded by a business rule (rules/: "
    "exclude_items.csv, exclude_pairs.csv, segments' allowed_items.csv).",
}


def _results(asset: str, names: dict[str, str], problems: dict[str, str]):
    for name in names:
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(asset),
            check_name=name,
            passed=name not in problems,
            metadata={"problem": problems.get(name, "none")},
        )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset="ratings", blocking=True, description=text)
        for name, text in RATINGS_CHECKS.items()
    ],
    ins={"ratings": dg.AssetIn("ratings")},
)
def ratings_checks(
    settings: RecsysSettings, ratings: pl.DataFrame
) -> Iterator[dg.AssetCheckResult]:
    ingest = settings.effective.ingest
    problems = ratings_problems(ratings, valid_range(ingest.feedback, ingest.rating_scale))
    yield from _results("ratings", RATINGS_CHECKS, problems)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset="recommendations",
            blocking=True,
            description=text,
            additional_deps=["ratings", "business_rules"],
        )
        for name, text in RECOMMENDATION_CHECKS.items()
    ],
    ins={
        "recommendations": dg.AssetIn("recommendations"),
        "ratings": dg.AssetIn("ratings"),
        "business_rules": dg.AssetIn("business_rules"),
    },
)
def recommendation_checks(
    settings: RecsysSettings,
    recommendations: pl.DataFrame,
    ratings: pl.DataFrame,
    business_rules: pl.DataFrame,
) -> Iterator[dg.AssetCheckResult]:
    removed, broken = rule_problems(business_rules, recommendations, ratings)
    problems = list_problems(settings, recommendations, ratings, removed=removed)
    problems |= {"business_rules": broken["excluded"]} if broken else {}
    yield from _results("recommendations", RECOMMENDATION_CHECKS, problems)


def list_problems(
    settings: RecsysSettings,
    lists: pl.DataFrame,
    ratings: pl.DataFrame,
    n: int | None = None,
    removed: pl.DataFrame | None = None,
) -> dict[str, str]:
    """The :data:`RECOMMENDATION_CHECKS` of a table to publish, against the ratings it was built
    from (``n``: the lists' length, default ``topn.n``; ``removed``: the candidates business
    rules took from each user): one code path for the night's table and a refresh's
    (:mod:`pipeline.assets.refresh`)."""
    rated = ratings.select("user_id", "item_id")
    return recommendation_problems(lists, rated, n or settings.effective.topn.n, removed)


def gate_ndcg(metrics: pl.DataFrame | None, k: int, model: str = GATE_MODEL) -> float | None:
    """A model's NDCG@k in a metrics table, or None (no table, or no such row)."""
    if metrics is None:
        return None
    try:
        return metric(metrics, model, "ndcg", k)
    except ValueError:
        return None


@dg.asset_check(
    asset="evaluation",
    blocking=True,
    description="Publish gate: the hybrid's NDCG@k on the test split is at least "
    "publish.min_ndcg (default 0.05), no more than publish.max_ndcg_drop (0.05) below the live "
    "run's, and at least publish.min_lift (1.5) x popularity's on the same split.",
)
def quality_gate(
    settings: RecsysSettings, data_root: DataRoot, evaluation: pl.DataFrame
) -> dg.AssetCheckResult:
    s = settings.effective
    k, gate = s.evaluation.k, s.publish
    ndcg = gate_ndcg(evaluation, k)
    live = gate_ndcg(Published(data_root).live_metrics(), k)
    popularity = gate_ndcg(evaluation, k, "popularity")
    observed = float("nan") if ndcg is None else ndcg
    problems = quality_problems(
        observed, live, gate.min_ndcg, gate.max_ndcg_drop, popularity, gate.min_lift
    )
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            f"ndcg@{k}": round(observed, 4),
            f"live_ndcg@{k}": "none (first publish)" if live is None else round(live, 4),
            f"popularity_ndcg@{k}": "none" if popularity is None else round(popularity, 4),
            "min_ndcg": gate.min_ndcg,
            "max_ndcg_drop": gate.max_ndcg_drop,
            "min_lift": gate.min_lift,
            "problems": "; ".join(problems.values()) or "none",
        },
        description="; ".join(problems.values()) or None,
    )


DRIFT_CHECKS = {f"drift_{name}": rule for name, rule in CHECKS.items()}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset="recommendations",
            blocking=True,
            description=rule.format(max_drop="publish.max_drop (default 20%)")
            + " An intended change passes with publish.allow_changes for that run.",
            additional_deps=["ratings", "ingest_summary"],
        )
        for name, rule in DRIFT_CHECKS.items()
    ],
    ins={
        "recommendations": dg.AssetIn("recommendations"),
        "ratings": dg.AssetIn("ratings"),
        "ingest_summary": dg.AssetIn("ingest_summary"),
    },
)
def drift_checks_against_the_live_run(
    settings: RecsysSettings,
    data_root: DataRoot,
    recommendations: pl.DataFrame,
    ratings: pl.DataFrame,
    ingest_summary: dict,
) -> Iterator[dg.AssetCheckResult]:
    s, published = settings.effective.publish, Published(data_root)
    summary = table_summary(ratings, recommendations, ingest_summary["rows_read"])
    live_record = published.live_record()
    live = None if live_record is None else live_record.get("summary", {})
    checks = drift_checks(summary, live, s.max_drop, frozenset(s.allow_changes))
    churn = published.changed_share(recommendations)
    for name, check in checks.items():
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey("recommendations"),
            check_name=f"drift_{name}",
            passed=check.passed,
            description=check.message,
            metadata={"allowed": check.allowed, "max_drop": s.max_drop, "changed_share": churn},
        )


PUBLISH_GATES = [
    dg.AssetCheckKey(dg.AssetKey("evaluation"), "quality_gate"),
    dg.AssetCheckKey(dg.AssetKey("similar_items"), "similar_items_contract"),
    *(dg.AssetCheckKey(dg.AssetKey("recommendations"), n) for n in RECOMMENDATION_CHECKS),
    *(dg.AssetCheckKey(dg.AssetKey("recommendations"), n) for n in DRIFT_CHECKS),
]
"""The blocking checks that must have passed IN THE PUBLISHING RUN itself."""


def require_gates_passed(
    context: dg.AssetExecutionContext,
    gates: list[dg.AssetCheckKey] = PUBLISH_GATES,
    job: str = "nightly",
) -> None:
    """Refuse to publish unless every gate check passed in this very run: a blocking check does
    not guard a partial materialization (an unselected check simply never runs), so a subset
    run of only the publishing assets after a failed gate would otherwise publish."""
    for key in gates:
        record = context.instance.get_latest_asset_check_evaluation_record(key)
        ok = record is not None and record.run_id == context.run.run_id
        ok = ok and record.status == AssetCheckExecutionRecordStatus.SUCCEEDED
        if not ok:
            where = "never ran" if record is None else f"run {record.run_id}: {record.status.value}"
            raise dg.Failure(
                f"refusing to publish: {key.asset_key.to_user_string()}:{key.name} did not pass in "
                f"this run ({where}); run the whole {job} job so its gates run"
            )
