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

from recsys_core.evaluation.metrics import (
    catalog_coverage,
    mae,
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
    "value": pl.Float64,
}


def evaluate(
    model: Recommender,
    test: pl.DataFrame,
    name: str | None = None,
    k: int = 10,
    threshold: float = 4.0,
) -> pl.DataFrame:
    """Long-format metrics of a fitted ``model`` on ``test``: ``model, metric, k, value``."""
    name = name or type(model).__name__
    rows: list[tuple[str, int | None, float]] = []
    estimates = model.predict(test)
    if np.isfinite(estimates).any():
        scored = np.isfinite(estimates)
        if not scored.all():
            log.warning(
                "%s could not score %d of %d test pairs", name, (~scored).sum(), len(scored)
            )
        actual = test.get_column("rating").to_numpy()
        rows += [
            ("rmse", None, rmse(actual[scored], estimates[scored])),
            ("mae", None, mae(actual[scored], estimates[scored])),
        ]
    users = relevant_items(test, threshold).get_column("user_id").unique()
    recs = model.recommend(n=k, users=users)
    rows += [
        (metric, k, value) for metric, value in ranking_metrics(recs, test, k, threshold).items()
    ]
    rows.append(("coverage", k, catalog_coverage(recs, model.data.n_items)))
    return metrics_frame(name, rows)


def metrics_frame(name: str, rows: list[tuple[str, int | None, float]]) -> pl.DataFrame:
    """Long-format metrics frame for one model."""
    return pl.DataFrame(
        {
            "model": [name] * len(rows),
            "metric": [r[0] for r in rows],
            "k": [r[1] for r in rows],
            "value": [float(r[2]) for r in rows],
        },
        schema=METRIC_SCHEMA,
    )


def metric(frame: pl.DataFrame, model: str, name: str, k: int | None = 10) -> float:
    """One value out of a long-format metrics frame."""
    sel = frame.filter((pl.col("model") == model) & (pl.col("metric") == name))
    if k is not None:
        sel = sel.filter(pl.col("k") == k)
    return float(sel.get_column("value").item())
