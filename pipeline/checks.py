"""Blocking asset checks: bad ratings or bad lists stop the run before anything is published."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipeline.publishing import GATE_MODEL, Published
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core.evaluation.protocol import metric
from recsys_core.publish.checks import quality_problems, ratings_problems, recommendation_problems
from recsys_core.publish.drift import CHECKS, drift_checks, table_summary

RATINGS_CHECKS = {
    "schema": "Columns user_id, item_id, rating, timestamp with the documented types.",
    "rating_range": "Every rating within ingest.rating_scale.",
    "duplicate_pairs": "At most one rating per (user, item).",
}
RECOMMENDATION_CHECKS = {
    "rows_per_user": "Every known user has min(topn.n, candidates) rows.",
    "unknown_ids": "No user or item that is not in the validated ratings.",
    "already_rated": "No item the user has already rated.",
    "ranks": "Ranks are 1..k for each user.",
    "distinct_items": "No item twice in a user's list.",
    "finite_scores": "Every score is a finite number.",
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
    problems = ratings_problems(ratings, settings.effective.ingest.rating_scale)
    yield from _results("ratings", RATINGS_CHECKS, problems)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset="recommendations",
            blocking=True,
            description=text,
            additional_deps=["ratings"],
        )
        for name, text in RECOMMENDATION_CHECKS.items()
    ],
    ins={"recommendations": dg.AssetIn("recommendations"), "ratings": dg.AssetIn("ratings")},
)
def recommendation_checks(
    settings: RecsysSettings, recommendations: pl.DataFrame, ratings: pl.DataFrame
) -> Iterator[dg.AssetCheckResult]:
    rated = ratings.select("user_id", "item_id")
    problems = recommendation_problems(recommendations, rated, settings.effective.topn.n)
    yield from _results("recommendations", RECOMMENDATION_CHECKS, problems)


def gate_ndcg(metrics: pl.DataFrame | None, k: int) -> float | None:
    """The gate model's NDCG@k in a metrics table, or None (no table, or no such row)."""
    if metrics is None:
        return None
    try:
        return metric(metrics, GATE_MODEL, "ndcg", k)
    except ValueError:
        return None


@dg.asset_check(
    asset="evaluation",
    blocking=True,
    description="Publish gate: the hybrid's NDCG@k on the test split is at least "
    "publish.min_ndcg and no more than publish.max_ndcg_drop below the live run's.",
)
def quality_gate(
    settings: RecsysSettings, data_root: DataRoot, evaluation: pl.DataFrame
) -> dg.AssetCheckResult:
    s = settings.effective
    k, gate = s.evaluation.k, s.publish
    ndcg = gate_ndcg(evaluation, k)
    live = gate_ndcg(Published(data_root).live_metrics(), k)
    observed = float("nan") if ndcg is None else ndcg
    problems = quality_problems(observed, live, gate.min_ndcg, gate.max_ndcg_drop)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            f"ndcg@{k}": round(observed, 4),
            f"live_ndcg@{k}": "none (first publish)" if live is None else round(live, 4),
            "min_ndcg": gate.min_ndcg,
            "max_ndcg_drop": gate.max_ndcg_drop,
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
