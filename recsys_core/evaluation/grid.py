"""Grid search with k-fold cross-validation (Surprise's ``GridSearchCV``, on polars frames).

A grid maps parameter names to candidate lists; nested parameters nest, e.g.
``{"k": [20, 40], "sim_options": {"name": ["msd", "cosine"]}}`` has 4 candidates. Each candidate
is fitted on k-1 folds and scored on the held-out fold with
:func:`recsys_core.evaluation.protocol.evaluate`; the trials table has the mean and standard
deviation over folds of RMSE, MAE and NDCG@k. The best candidate has the highest mean NDCG@k
(``by="ndcg"``) or the lowest mean RMSE (``by="rmse"``).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping
from typing import Any

import polars as pl

from recsys_core.data.split import kfold
from recsys_core.evaluation.protocol import evaluate, metric
from recsys_core.models.base import Recommender
from recsys_core.params import require
from recsys_core.settings import merge

log = logging.getLogger(__name__)


def expand(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of a (nested) grid, as nested parameter dicts, in grid order."""
    leaves: list[tuple[tuple[str, ...], list]] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, (*path, key))
            else:
                values = list(value) if isinstance(value, list | tuple) else [value]
                require(len(values) > 0, ".".join((*path, key)), value, "a non-empty list")
                leaves.append(((*path, key), values))

    walk(grid, ())
    combos = []
    for values in itertools.product(*(v for _, v in leaves)):
        params: dict[str, Any] = {}
        for (path, _), value in zip(leaves, values, strict=True):
            node = params
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        combos.append(params)
    return combos


def grid_search(
    model: type[Recommender],
    base: Mapping[str, Any],
    grid: Mapping[str, Any],
    ratings: pl.DataFrame,
    n_splits: int = 3,
    random_state: int = 0,
    k: int = 10,
    threshold: float = 4.0,
) -> pl.DataFrame:
    """Trials: ``params`` (JSON), ``rmse_mean, rmse_std, mae_mean, mae_std, ndcg_mean,
    ndcg_std`` for every candidate (``base`` parameters merged with the candidate)."""
    folds = list(kfold(ratings, n_splits, random_state))
    rows = []
    for candidate in expand(grid):
        params = merge(base, candidate)
        scores: dict[str, list[float]] = {"rmse": [], "mae": [], "ndcg": []}
        for fold in folds:
            frame = evaluate(model(**params).fit(fold.train), fold.test, "m", k, threshold)
            for name in scores:
                present = frame.filter(pl.col("metric") == name).height > 0
                ks = None if name in ("rmse", "mae") else k
                scores[name].append(metric(frame, "m", name, ks) if present else float("nan"))
        row = {"params": json.dumps(candidate, sort_keys=True)}
        for name, values in scores.items():
            series = pl.Series(values, dtype=pl.Float64)
            row |= {f"{name}_mean": series.mean(), f"{name}_std": series.std(ddof=0)}
        log.info("%s %s: %s", model.__name__, row["params"], row)
        rows.append(row)
    return pl.DataFrame(rows)


def best_params(trials: pl.DataFrame, by: str = "ndcg") -> dict[str, Any]:
    """The best candidate's parameters (highest NDCG, or lowest RMSE with ``by="rmse"``)."""
    require(by in ("ndcg", "rmse"), "by", by, "ndcg | rmse")
    ordered = trials.with_row_index().sort(
        [f"{by}_mean", "index"], descending=[by == "ndcg", False]
    )
    return json.loads(ordered["params"][0])
