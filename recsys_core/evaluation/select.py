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
more than one trial's misestimate).

Edges: data never seen may want a value outside the grid (measured: EASE's best ``reg`` is 200
on ML-100k, 800 with half of each user's ratings, >= 3200 on the synthetic 1M set). When the
whole grid ran and the best value of a numeric key in ``edge_keys`` (dotted paths; default
``reg`` only) is the grid's largest (smallest), the search steps on geometrically (the ratio of
the two outermost values) up to ``edge_steps`` times while NDCG improves; these trials have
``stage = "edge"``. Only regularisation by default: its optimum moves by multiples with the
data's density, while the latent dimension's validation curve is flat near its optimum (iALS on
ML-100k: 32/64/128 factors within 0.003 NDCG), so stepping it mostly follows noise.

Results depend only on the data, the grid and the models' seeds, never on timing -- except
which candidates fit in the budget.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recsys_core.evaluation.grid import expand
from recsys_core.evaluation.metrics import ranking_metrics, relevant_items
from recsys_core.models.base import Recommender
from recsys_core.params import require
from recsys_core.progress import Progress

__all__ = ["DEFAULT_GRIDS", "Selection", "merge_params", "select"]

DEFAULT_GRIDS: dict[str, dict[str, Any]] = {
    "EASE": {"reg": [50.0, 100.0, 200.0, 400.0, 800.0]},
    "IALS": {"reg": [15.0, 30.0, 60.0], "n_factors": [32, 64, 128]},
    "KNNWithMeans": {"k": [20, 40, 80]},
    "PureSVD": {"n_factors": [10, 20, 40]},
}
"""Small grids per model class name.

EASE: one knob, on a log2 scale around the ML-100k optimum (200-400): the best ``reg`` grows
with the data (roughly x2 from ML-100k to ML-1M), so the grid reaches x4 either side and steps
past its edge when needed; 5 fits of a few-second model. iALS: ``reg`` (log scale, around the
ML-100k optimum) x ``n_factors`` (more factors pay off on more data); 9 fits. ``alpha`` and
``low_weight`` stay at their defaults (``reg`` tracks ``alpha``). The measurements that chose
the centres are in each model's docstring. Item-KNN (neighbours) and PureSVD (rank): 3 fits
each around their defaults, for when the hybrid offers them as candidates. Popularity has no
grid (fitted as configured)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """The chosen parameters and the trials table.

    ``trials`` has one row per candidate run, in run order: ``params`` (JSON of the candidate's
    grid values, sorted keys), ``stage`` (``grid`` or ``edge``), ``ndcg``, ``precision`` (at
    ``k``), ``seconds`` (fit + score). ``model`` is the best candidate as fitted on the
    inner-train ratings (kept, so a caller that scores on the same split need not refit it).
    """

    params: dict[str, Any]
    trials: pl.DataFrame
    model: Recommender | None = None


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
    edge_steps: int = 3,
    edge_keys: Sequence[str] = ("reg",),
    clock: Callable[[], float] = time.perf_counter,
) -> Selection:
    """Fit each candidate on ``train`` (inner-train), score it on ``validation``; see the module
    docstring. The returned ``params`` are ``base`` merged with the best candidate."""
    require(budget_seconds > 0, "budget_seconds", budget_seconds, "> 0")
    require(edge_steps >= 0, "edge_steps", edge_steps, ">= 0")
    users = relevant_items(validation, threshold).get_column("user_id").unique().sort()
    rows: list[dict[str, Any]] = []
    start = clock()
    clocks = {"last": start, "longest": 0.0}
    kept: dict[str, Any] = {}

    def run(candidate: dict[str, Any], stage: str) -> bool:
        """Run one candidate unless the budget forbids it; False when it was not run."""
        if rows and clocks["last"] - start + clocks["longest"] > budget_seconds:
            return False
        fitted = model(**merge_params(base, candidate)).fit(train)
        scores = ranking_metrics(fitted.recommend(k, users=users), validation, k, threshold)
        now = clock()
        seconds, clocks["last"] = now - clocks["last"], now
        clocks["longest"] = max(clocks["longest"], seconds)
        rows.append({"params": _key(candidate), "stage": stage, **_scores(scores, seconds)})
        log.debug("%s %s: validation NDCG@%d %.4f in %.1f s (%s)", model.__name__,
                 _key(candidate), k, scores["ndcg"], seconds, stage)  # fmt: skip
        if _best(rows) is rows[-1]:
            kept["model"] = fitted  # only the best so far stays in memory
        return True

    candidates = _ordered(expand(grid), warm_start)
    progress = Progress(len(candidates), f"{model.__name__} candidates tried on validation")
    for candidate in candidates:
        if not run(candidate, "grid"):
            break
        progress.update(progress.done + 1)
    else:
        _extend_edges(grid, rows, run, edge_steps, edge_keys)
    trials = pl.DataFrame(rows)
    top = _best(rows)
    best = merge_params(base, json.loads(top["params"]))
    log.debug("%s: chose %s (validation NDCG@%d %.4f) of %d candidates in %.1f s", model.__name__,
             top["params"], k, top["ndcg"], len(rows), sum(r["seconds"] for r in rows))  # fmt: skip
    return Selection(best, trials, kept["model"])


def _key(candidate: Mapping[str, Any]) -> str:
    return json.dumps(candidate, sort_keys=True)


def _scores(scores: dict[str, float], seconds: float) -> dict[str, float]:
    return {"ndcg": scores["ndcg"], "precision": scores["precision"], "seconds": seconds}


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with the highest NDCG (NaN lowest); ties to the earlier row."""
    return max(rows, key=lambda r: (not math.isnan(r["ndcg"]), np.nan_to_num(r["ndcg"], nan=0)))


def _extend_edges(
    grid: Mapping[str, Any],
    rows: list[dict[str, Any]],
    run: Callable[[dict[str, Any], str], bool],
    steps: int,
    keys: Sequence[str],
) -> None:
    """Step past the grid's edge while the best value of a numeric key sits on it.

    For each key whose grid values are >= 2 positive numbers: if the best candidate has the
    largest (smallest) value, try it times (divided by) the ratio of the two outermost values,
    the other keys as in the best, up to ``steps`` times while NDCG improves.
    """
    for path, values in _numeric_leaves(grid):
        if ".".join(path) not in keys:
            continue
        ordered = sorted(values)
        for _ in range(steps):
            best = json.loads(_best(rows)["params"])
            value = _get(best, path)
            if value == ordered[-1]:
                nxt = value * ordered[-1] / ordered[-2]
            elif value == ordered[0]:
                nxt = value * ordered[0] / ordered[1]
            else:
                break
            nxt = round(nxt) if all(isinstance(v, int) for v in values) else float(nxt)
            if nxt <= 0 or nxt == value:
                break
            candidate = _with(best, path, nxt)
            if _key(candidate) in {r["params"] for r in rows} or not run(candidate, "edge"):
                break
            if json.loads(_best(rows)["params"]) != candidate:
                break  # the step did not improve: the optimum is inside
            ordered = sorted([*ordered, nxt])


def _numeric_leaves(grid: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple]:
    out: list[tuple] = []
    for key, value in grid.items():
        if isinstance(value, Mapping):
            out += _numeric_leaves(value, (*path, key))
        elif isinstance(value, list | tuple) and len(set(value)) >= 2:
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            if numeric and min(value) > 0:
                out.append(((*path, key), list(value)))
    return out


def _get(params: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        params = params[key]
    return params


def _with(params: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(params)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _ordered(
    candidates: list[dict[str, Any]], warm_start: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """``warm_start`` first (once), then the grid's candidates in order."""
    if not warm_start:
        return candidates
    first = json.loads(json.dumps(dict(warm_start), sort_keys=True))
    key = json.dumps(first, sort_keys=True)
    return [first] + [c for c in candidates if json.dumps(c, sort_keys=True) != key]
