"""Blocking asset checks: bad ratings or bad lists stop the run before anything is published."""

import json
from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipeline.assets.evaluation import evaluation
from pipeline.assets.ingest import ratings
from pipeline.assets.publish import STAGED, STAGED_INFO, recommendations
from pipeline.config import RecsysSettings, run_settings
from pipeline.resources import DataRoot
from recsys_core.evaluation.protocol import metric
from recsys_core.publish.checks import quality_problems, ratings_problems, recommendation_problems

RATINGS_CHECKS = {
    "schema": "Columns user_id, item_id, rating, timestamp with the documented types.",
    "rating_range": "Every rating within the configured rating_scale.",
    "duplicate_pairs": "At most one rating per (user, item).",
}
RECOMMENDATION_CHECKS = {
    "rows_per_user": "Every known user has min(N, candidates) rows.",
    "unknown_ids": "No user or item that is not in the validated ratings.",
    "already_rated": "No item the user has already rated.",
    "ranks": "Ranks are 1..k for each user.",
    "distinct_items": "No item twice in a user's list.",
    "finite_scores": "Every score is a finite number.",
}


def _results(asset: dg.AssetKey, names: dict[str, str], problems: dict[str, str]):
    for name in names:
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=name not in problems,
            metadata={"problem": problems.get(name, "none")},
        )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=ratings, blocking=True, description=text)
        for name, text in RATINGS_CHECKS.items()
    ]
)
def ratings_checks(data_root: DataRoot) -> Iterator[dg.AssetCheckResult]:
    frame = pl.read_parquet(data_root.warehouse("ratings.parquet"))
    report = json.loads(data_root.warehouse("ingest_report.json").read_text())
    problems = ratings_problems(frame, tuple(report["rating_scale"]))
    yield from _results(ratings.key, RATINGS_CHECKS, problems)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=recommendations, blocking=True, description=text)
        for name, text in RECOMMENDATION_CHECKS.items()
    ]
)
def recommendation_checks(data_root: DataRoot) -> Iterator[dg.AssetCheckResult]:
    recs = pl.read_parquet(data_root.warehouse(STAGED))
    info = json.loads(data_root.warehouse(STAGED_INFO).read_text())
    rated = pl.read_parquet(data_root.warehouse("ratings.parquet"), columns=["user_id", "item_id"])
    problems = recommendation_problems(recs, rated, info["n"])
    yield from _results(recommendations.key, RECOMMENDATION_CHECKS, problems)


GATE_MODEL = "hybrid"


def _ndcg(path, k: int) -> float | None:
    """The gate model's NDCG@k in a metrics file, or None (no file, or no such row)."""
    if not path.is_file():
        return None
    try:
        return metric(pl.read_parquet(path), GATE_MODEL, "ndcg", k)
    except ValueError:  # no single matching row
        return None


@dg.asset_check(
    asset=evaluation,
    blocking=True,
    description="Publish gate: the hybrid's NDCG@k on the test split is at least "
    "publish.min_ndcg and no more than publish.max_ndcg_drop below the live run's.",
)
def quality_gate(settings: RecsysSettings, data_root: DataRoot) -> dg.AssetCheckResult:
    effective = run_settings(settings, data_root)
    k, gate = effective.evaluation.k, effective.publish
    ndcg = _ndcg(data_root.warehouse("metrics.parquet"), k)
    live = _ndcg(data_root.published("metrics.parquet"), k)
    problems = quality_problems(
        float("nan") if ndcg is None else ndcg, live, gate.min_ndcg, gate.max_ndcg_drop
    )
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "ndcg": ndcg if ndcg is not None else float("nan"),
            "live_ndcg": live if live is not None else float("nan"),
            "problems": "; ".join(problems.values()) or "none",
        },
        description="; ".join(problems.values()) or None,
    )
