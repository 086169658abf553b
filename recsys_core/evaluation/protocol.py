"""The evaluation protocol used everywhere so numbers compare.

A model fitted on train is scored on test: RMSE and MAE over all test pairs (models that do not
predict ratings have none); top-``k`` lists for every user with a relevant test item, candidates
being the training items the user has not rated; ranking metrics from
:mod:`recsys_core.evaluation.metrics`; catalogue coverage of those lists.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from recsys_core.evaluation import beyond
from recsys_core.evaluation.metrics import (
    catalog_coverage,
    mae,
    per_user_ranking,
    ranking_metrics,
    relevant_items,
    rmse,
)
from recsys_core.models.base import Recommender

log = logging.getLogger(__name__)

METRIC_SCHEMA = {
    "model": pl.String,
    "metric": pl.String,
    "k": pl.Int32,
    "segment": pl.String,
    "value": pl.Float64,
}
CURVE_KS = (1, 5, 10, 20)
Row = tuple[str, int | None, str, float]


def evaluate(
    model: Recommender,
    test: pl.DataFrame,
    name: str | None = None,
    k: int = 10,
    threshold: float = 4.0,
    train: pl.DataFrame | None = None,
    estimates: np.ndarray | None = None,
    rating_metrics: bool = True,
    max_users: int | None = None,
    random_state: int = 0,
) -> pl.DataFrame:
    """Long-format metrics of a fitted ``model`` on ``test``: ``model, metric, k, segment,
    value``. Ranking metrics at ``k`` (and at :data:`CURVE_KS` for curves) and ``users``, the
    number of users they average over; with ``train``, also ``train_ratings`` (its rows: what the
    model was fitted on), beyond-accuracy measures, per-user-segment ranking metrics and
    cold-item recall (:mod:`recsys_core.evaluation.beyond`). ``estimates``:
    ``model.predict(test)`` if the caller already has it. ``rating_metrics=False``: no RMSE/MAE
    and no prediction (implicit feedback: the test "ratings" are interactions, nothing a
    prediction could be compared with). ``max_users``: the ranking metrics judge a seeded sample
    (``random_state``) of at most this many users with a relevant test item (RMSE/MAE still
    every test pair), which bounds the ranking work on large data."""
    name = name or type(model).__name__
    rows: list[Row] = []
    if rating_metrics and estimates is None:
        estimates = model.predict(test)
    if rating_metrics and np.isfinite(estimates).any():
        scored = np.isfinite(estimates)
        if not scored.all():
            log.warning(
                "%s could not score %d of %d test pairs", name, (~scored).sum(), len(scored)
            )
        actual = test.get_column("rating").to_numpy()
        rows += [
            ("rmse", None, "all", rmse(actual[scored], estimates[scored])),
            ("mae", None, "all", mae(actual[scored], estimates[scored])),
        ]
    users = relevant_items(test, threshold).get_column("user_id").unique().sort()
    if max_users is not None and users.len() > max_users:
        users = users.sample(max_users, seed=random_state).sort()
        test = test.join(pl.DataFrame({"user_id": users}), on="user_id", how="semi")
    depth = max(k, *CURVE_KS)
    recs = model.recommend(n=depth, users=users)
    top_k = recs.filter(pl.col("rank") <= k)
    for kk in sorted({k, *CURVE_KS}):
        rows += [(m, kk, "all", v) for m, v in ranking_metrics(recs, test, kk, threshold).items()]
    rows.append(("coverage", k, "all", catalog_coverage(top_k, model.data.n_items)))
    rows.append(("users", k, "all", float(users.len())))
    if train is not None:
        rows.append(("train_ratings", None, "all", float(train.height)))
        rows += _beyond(top_k, recs, test, train, model.data.n_items, k, threshold)
    return metrics_frame(name, rows)


def _beyond(top_k, recs, test, train, n_items, k, threshold) -> list[Row]:
    rows: list[Row] = [
        ("novelty", k, "all", beyond.novelty(top_k, train)),
        ("popularity_bias", k, "all", beyond.popularity_bias(top_k, train)),
        ("exposure_gini", k, "all", beyond.exposure_gini(top_k, n_items)),
        ("cold_item_recall", k, "all", beyond.cold_item_recall(recs, test, train, k, threshold)),
    ]
    segments = beyond.user_segments(train)
    for segment in ("cold", "warm", "heavy"):
        members = segments.filter(pl.col("segment") == segment).select("user_id")
        seg_test = test.join(members, on="user_id", how="semi")
        per_user = per_user_ranking(recs, seg_test, k, threshold)
        for metric in ("precision", "recall", "ndcg"):
            value = per_user.get_column(metric).mean() if per_user.height else None
            rows.append((metric, k, f"{segment}_users", float("nan") if value is None else value))
        rows.append(("users", k, f"{segment}_users", float(per_user.height)))
    return rows


def metrics_frame(name: str, rows: list[Row]) -> pl.DataFrame:
    """Long-format metrics frame for one model."""
    return pl.DataFrame(
        {
            "model": [name] * len(rows),
            "metric": [r[0] for r in rows],
            "k": [r[1] for r in rows],
            "segment": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
        },
        schema=METRIC_SCHEMA,
    )


def metric(
    frame: pl.DataFrame, model: str, name: str, k: int | None = 10, segment: str = "all"
) -> float:
    """One value out of a long-format metrics frame."""
    sel = frame.filter(
        (pl.col("model") == model) & (pl.col("metric") == name) & (pl.col("segment") == segment)
    )
    if k is not None:
        sel = sel.filter(pl.col("k") == k)
    return float(sel.get_column("value").item())
