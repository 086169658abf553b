"""Per-night hyperparameter selection on a validation split carved from the training data.

The caller splits its *training* ratings into inner-train and validation (e.g.
:func:`recsys_core.data.split.random_split` on the training part); this module never sees a test
split. Each candidate (``base`` merged with one combination of ``grid``) is fitted on
inner-train and its top-``k`` lists for the validation users are scored with
:func:`recsys_core.evaluation.metrics.ranking_metrics` (NDCG@k, relevant = rating >=
``threshold``). The best candidate has the highest NDCG@k; ties go to the earlier candidate.

Order and budget: ``warm_start`` (last night's choice) is tried first, then the grid in grid
order. The first candidate always runs; a further candidate starts only if the time spent plus
the longest trial so far stays within ``budget_seconds`` (so the budget is rarely overrun by
more than one trial's misestimate). Results depend only on the data, the grid and the models'
seeds, never on timing -- except which candidates fit in the budget.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from recsys_core.evaluation.grid import expand
from recsys_core.evaluation.metrics import ranking_metrics, relevant_items
from recsys_core.models.base import Recommender
from recsys_core.params import require

__all__ = ["DEFAULT_GRIDS", "Selection", "merge_params", "select"]

DEFAULT_GRIDS: dict[str, dict[str, Any]] = {
    "EASE": {"reg": [50.0, 100.0, 200.0, 400.0, 800.0]},
    "IALS": {"reg": [15.0, 30.0, 60.0], "n_factors": [32, 64, 128]},
}
"""Small grids per model class name.

EASE: one knob, on a log2 scale around the ML-100k optimum (200): the best ``reg`` grows with the
data (roughly x2 from ML-100k to ML-1M), so the grid reaches x4 either side; 5 fits of a
few-second model. iALS: ``reg`` (log scale, around the ML-100k optimum) x ``n_factors`` (more
factors pay off on more data); 9 fits. ``alpha`` and ``low_weight`` are less sensitive and stay
at their defaults. The measurements that chose the centres are in each model's docstring."""


@dataclass(frozen=True)
class Selection:
    """The chosen parameters and the trials table.

    ``trials`` has one row per candidate run, in run order: ``params`` (JSON of the candidate's
    grid values, sorted keys), ``ndcg``, ``precision`` (at ``k``), ``seconds`` (fit + score).
    """

    params: dict[str, Any]
    trials: pl.DataFrame


def merge_params(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """New dict: ``override`` wins key by key; nested mappings merge recursively."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_params(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def select(
    model: type[Recommender],
    base: Mapping[str, Any],
    grid: Mapping[str, Any],
    train: pl.DataFrame,
    validation: pl.DataFrame,
    *,
    k: int = 10,
    threshold: float = 4.0,
    budget_seconds: float = math.inf,
    warm_start: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Selection:
    """Fit each candidate on ``train`` (inner-train), score it on ``validation``; see the module
    docstring. The returned ``params`` are ``base`` merged with the best candidate."""
    require(budget_seconds > 0, "budget_seconds", budget_seconds, "> 0")
    candidates = _ordered(expand(grid), warm_start)
    users = relevant_items(validation, threshold).get_column("user_id").unique().sort()
    rows: list[dict[str, Any]] = []
    start = last = clock()
    longest = 0.0
    for candidate in candidates:
        if rows and last - start + longest > budget_seconds:
            break
        fitted = model(**merge_params(base, candidate)).fit(train)
        scores = ranking_metrics(fitted.recommend(k, users=users), validation, k, threshold)
        now = clock()
        seconds, last = now - last, now
        longest = max(longest, seconds)
        rows.append(
            {
                "params": json.dumps(candidate, sort_keys=True),
                "ndcg": scores["ndcg"],
                "precision": scores["precision"],
                "seconds": seconds,
            }
        )
    trials = pl.DataFrame(rows)
    order = ["ndcg", "index"]
    best = trials.with_row_index().sort(order, descending=[True, False], nulls_last=True)
    return Selection(merge_params(base, json.loads(best["params"][0])), trials)


def _ordered(
    candidates: list[dict[str, Any]], warm_start: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """``warm_start`` first (once), then the grid's candidates in order."""
    if not warm_start:
        return candidates
    first = json.loads(json.dumps(dict(warm_start), sort_keys=True))
    key = json.dumps(first, sort_keys=True)
    return [first] + [c for c in candidates if json.dumps(c, sort_keys=True) != key]
