"""Per-night hyperparameter selection on a validation split carved from the training data.

The caller splits its *training* ratings into inner-train and validation and prepares them once
(:class:`recsys_core.evaluation.validation.ValidationSet`: one id mapping and CSR for every fit,
a bounded sample of validation users); this module never sees a test split. Each candidate
(``base`` merged with values of the ``grid``'s keys) is fitted on inner-train through the
model's :meth:`~recsys_core.models.base.Recommender.fitter` (which may share work between
candidates) and scored by NDCG@k on the validation users (relevant = rating >= the set's
``threshold``). Ties go to the earlier candidate.

Search (a coordinate-wise climb, not the whole grid): the start is ``warm_start`` (last night's
choice) where given, else the configured value of each key. Then for each key in grid order,
the other keys held at the best so far, the search steps to the next value up; while that
strictly improves NDCG it keeps stepping up, else it tries the next value down (and keeps
stepping down while that improves). A numeric key's values are its sorted grid values; a key
whose values are not all numbers tries each of them. So a key costs 2 candidates when the start
is best, and one more per step towards a better value; a warm start near last night's optimum
makes a night cheap.

Edges: data never seen may want a value outside the grid (measured: EASE's best ``reg`` is 200
on ML-100k, 800 with half of each user's ratings, >= 3200 on the synthetic 1M set). A key in
``edge_keys`` (dotted paths; default ``reg`` only) steps past its grid's end geometrically (the
ratio of the two outermost values) up to ``edge_steps`` times per direction and night (a start
outside the grid adds the rungs between it and the grid first); these trials have ``stage =
"edge"``. Only regularisation by default: its optimum moves by multiples with the data's
density, while the latent dimension's validation curve is flat near its optimum (iALS on
ML-100k: 32/64/128 factors within 0.003 NDCG), so stepping it mostly follows noise.

Refinement (off by default): a numeric key in ``refine_keys`` whose best value ``b`` has a
tried value on each side (``a < b < c``, the others at the best) gets one more candidate after
the climbs: the vertex of the parabola through the three points (NDCG ``f`` against the log of
the value; ``p = b - a``, ``q = b - c`` in logs), ``x* = b - (p^2 (f_b - f_c) - q^2 (f_b - f_a))
/ (2 (p (f_b - f_c) - q (f_b - f_a)))``, rounded to two significant digits (``stage =
"refine"``), kept only if it strictly improves NDCG. Cross-validating the night on training data
found it tied with the rungs alone for ``reg`` (``docs/benchmarks.md``, "iALS's confidence;
refining reg; more validation splits"), so the night does not pay the extra fit.

Budget: the first candidate always runs; a further one starts only if the time spent plus the
longest trial so far stays within ``budget_seconds``. Results depend only on the data, the grid,
the start and the models' seeds, never on timing -- except which candidates fit in the budget.
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

from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.base import Recommender
from recsys_core.params import as_dict, build_params, require
from recsys_core.progress import Progress

__all__ = ["DEFAULT_GRIDS", "Selection", "merge_params", "select"]

DEFAULT_GRIDS: dict[str, dict[str, Any]] = {
    "EASE": {"reg": [50.0, 200.0, 800.0]},
    "IALS": {"reg": [25.0, 50.0, 100.0]},
    "KNNWithMeans": {"k": [20, 40, 80]},
    "PureSVD": {"n_factors": [10, 20, 40]},
}
"""Small grids per model class name.

EASE: one knob, on a log4 scale around the ML-100k optimum (200-400): the best ``reg`` grows with
the data (roughly x2 from ML-100k to ML-1M, x32 on the synthetic 1M set), so the climb steps past
the grid's edge by x4 when needed. Validation NDCG@10 is flat within x2 of the optimum, so x4 steps
lose nothing measurable on validation and reach a far optimum in fewer fits (``docs/benchmarks.md``,
"EASE's grid in steps of 4"). iALS: ``reg`` on a log2 scale around its default (warm-started
fits along the path, :meth:`recsys_core.models.ials.IALS.fitter`); ``n_factors`` stays as configured
(climbing it nightly tied with a fixed 32 when cross-validated on training data, at ~1.35x the cost:
``docs/benchmarks.md``, "iALS factors and sweeps"); ``alpha`` and ``low_weight`` stay at their
defaults (``reg`` tracks ``alpha``: the grid moves with it). The measurements that chose the
centres are in each model's docstring. Item-KNN (neighbours) and PureSVD (rank): around their
defaults, for when the hybrid offers them as candidates. Popularity: no grid."""

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
    validation: ValidationSet,
    *,
    k: int = 10,
    budget_seconds: float = math.inf,
    warm_start: Mapping[str, Any] | None = None,
    edge_steps: int = 3,
    edge_keys: Sequence[str] = ("reg",),
    refine_keys: Sequence[str] = (),
    clock: Callable[[], float] = time.perf_counter,
) -> Selection:
    """Fit candidates on ``validation.train`` (inner-train), score them on its validation
    users; see the module docstring. The returned ``params`` are ``base`` merged with the best
    candidate."""
    require(budget_seconds > 0, "budget_seconds", budget_seconds, "> 0")
    require(edge_steps >= 0, "edge_steps", edge_steps, ">= 0")
    fit = model.fitter(validation.data, validation.train)
    leaves = _leaves(grid)
    rows: list[dict[str, Any]] = []
    start = clock()
    clocks = {"last": start, "longest": 0.0}
    kept: dict[str, Any] = {}
    progress = Progress(sum(len(v) for _, v in leaves), f"{model.__name__} candidates tried")

    def run(candidate: dict[str, Any], stage: str) -> bool:
        """Run one candidate unless the budget forbids it; False when it was not run."""
        if rows and clocks["last"] - start + clocks["longest"] > budget_seconds:
            return False
        fitted = fit(merge_params(base, candidate))
        scores = validation.score(fitted.score_users, k)
        now = clock()
        seconds, clocks["last"] = now - clocks["last"], now
        clocks["longest"] = max(clocks["longest"], seconds)
        rows.append({"params": _key(candidate), "stage": stage, **_scores(scores, seconds)})
        log.debug("%s %s: validation NDCG@%d %.4f in %.1f s (%s)", model.__name__,
                  _key(candidate), k, scores["ndcg"], seconds, stage)  # fmt: skip
        if _best(rows) is rows[-1]:
            kept["model"] = fitted  # only the best so far stays in memory
        progress.update(progress.done + 1)
        return True

    run(_start(leaves, as_dict(build_params(model.Params, base)), warm_start or {}), "start")
    for path, values in leaves:
        steps = edge_steps if ".".join(path) in edge_keys else 0
        if not _climb(path, values, rows, run, steps):
            break  # out of budget
    else:
        for path, _ in leaves:
            if ".".join(path) in refine_keys and not _refine(path, rows, run):
                break
    trials = pl.DataFrame(rows)
    top = _best(rows)
    best = merge_params(base, json.loads(top["params"]))
    log.debug("%s: chose %s (validation NDCG@%d %.4f) of %d candidates in %.1f s",
              model.__name__, top["params"], k, top["ndcg"], len(rows),
              sum(r["seconds"] for r in rows))  # fmt: skip
    return Selection(best, trials, kept["model"])


def _key(candidate: Mapping[str, Any]) -> str:
    return json.dumps(candidate, sort_keys=True)


def _scores(scores: dict[str, float], seconds: float) -> dict[str, float]:
    return {"ndcg": scores["ndcg"], "precision": scores["precision"], "seconds": seconds}


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with the highest NDCG (NaN lowest); ties to the earlier row."""
    return max(rows, key=lambda r: (not math.isnan(r["ndcg"]), np.nan_to_num(r["ndcg"], nan=0)))


def _leaves(grid: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple]:
    """``(path, values)`` of every key of a (nested) grid, in grid order."""
    out: list[tuple] = []
    for key, value in grid.items():
        if isinstance(value, Mapping):
            out += _leaves(value, (*path, key))
        else:
            values = list(value) if isinstance(value, list | tuple) else [value]
            require(len(values) > 0, ".".join((*path, key)), value, "a non-empty list")
            out.append(((*path, key), values))
    return out


def _start(leaves: list[tuple], full: Mapping[str, Any], warm: Mapping[str, Any]) -> dict:
    """The first candidate: per grid key, the warm start's value, else the configured one."""
    out: dict[str, Any] = {}
    for path, _ in leaves:
        value = _get(warm, path, _get(full, path, None))
        out = _with(out, path, value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _climb(
    path: tuple[str, ...],
    values: list[Any],
    rows: list[dict[str, Any]],
    run: Callable[[dict[str, Any], str], bool],
    edge_steps: int,
) -> bool:
    """One key's climb (module docstring), the others at the best so far; False: budget out."""
    best = json.loads(_best(rows)["params"])
    current = _get(best, path)
    tried = {r["params"] for r in rows}
    if not all(_is_number(v) for v in [*values, current]):
        for value in values:
            candidate = _with(best, path, value)
            if _key(candidate) not in tried and not run(candidate, "grid"):
                return False
        return True
    ladder = _Ladder(values, current, edge_steps)
    for direction in (1, -1):
        moved = False
        while (step := ladder.next(current, direction)) is not None:
            value, stage = step
            candidate = _with(best, path, value)
            if _key(candidate) in tried:
                break
            if not run(candidate, stage):
                return False
            if _best(rows) is not rows[-1]:
                break  # no strict improvement: the optimum is behind
            best, current, moved = candidate, value, True
        if moved:
            break
    return True


def _refine(
    path: tuple[str, ...], rows: list[dict[str, Any]], run: Callable[[dict[str, Any], str], bool]
) -> bool:
    """The refinement of the module docstring for one key; False: budget out."""
    best = json.loads(_best(rows)["params"])
    b = _get(best, path)
    if not _is_number(b) or b <= 0:
        return True
    points: dict[float, float] = {}  # value -> NDCG, the other keys at the best
    for row in rows:
        params = json.loads(row["params"])
        value = _get(params, path, None)
        if _is_number(value) and value > 0 and _key(_with(params, path, b)) == _key(best):
            points[value] = row["ndcg"]
    below, above = [v for v in points if v < b], [v for v in points if v > b]
    if not below or not above:
        return True
    a, c = max(below), min(above)
    fa, fb, fc = points[a], points[b], points[c]
    la, lb, lc = math.log(a), math.log(b), math.log(c)
    denominator = (lb - la) * (fb - fc) - (lb - lc) * (fb - fa)
    if not math.isfinite(denominator) or denominator == 0:
        return True  # flat (or NaN): nothing to interpolate
    numerator = (lb - la) ** 2 * (fb - fc) - (lb - lc) ** 2 * (fb - fa)
    vertex = min(max(lb - numerator / (2 * denominator), la), lc)
    value: Any = float(f"{math.exp(vertex):.2g}")
    value = round(value) if isinstance(b, int) else value
    if value in points or value <= 0:
        return True
    return run(_with(best, path, value), "refine")


class _Ladder:
    """The values a numeric key steps through: its sorted grid values, extended geometrically
    beyond both ends (the ratio of the two outermost values) by at most ``edge_steps`` rungs per
    direction, after the rungs needed to reach a start outside the grid; a start between rungs
    is a rung too."""

    def __init__(self, values: list[Any], start: Any, edge_steps: int) -> None:
        grid = sorted(set(values))
        self.integer = all(isinstance(v, int) for v in values)
        self.up = grid[-1] / grid[-2] if len(grid) > 1 and grid[-2] > 0 else None
        self.down = grid[0] / grid[1] if len(grid) > 1 and grid[1] > 0 else None
        self.grid = set(grid)
        self.rungs = list(grid)
        self.left = {1: edge_steps, -1: edge_steps}
        while self.up and start > self.rungs[-1] and self._extend(1, count=False):
            pass
        while self.down and start < self.rungs[0] and self._extend(-1, count=False):
            pass
        if start not in self.rungs:
            self.rungs = sorted([*self.rungs, start])

    def _extend(self, direction: int, *, count: bool = True) -> bool:
        """Add one rung beyond the end in ``direction``; False when none may or can be."""
        if count and self.left[direction] <= 0:
            return False
        end = self.rungs[-1] if direction > 0 else self.rungs[0]
        ratio = self.up if direction > 0 else self.down
        if ratio is None or end <= 0:
            return False
        value = end * ratio
        value = round(value) if self.integer else float(value)
        if value <= 0 or value == end:
            return False
        self.rungs = [*self.rungs, value] if direction > 0 else [value, *self.rungs]
        if count:
            self.left[direction] -= 1
        return True

    def next(self, value: Any, direction: int) -> tuple[Any, str] | None:
        """The rung after ``value`` in ``direction`` and its stage, or None at the end."""
        at = self.rungs.index(value) + direction
        if not 0 <= at < len(self.rungs):
            if not self._extend(direction):
                return None
            at = self.rungs.index(value) + direction
        nxt = self.rungs[at]
        return nxt, "grid" if nxt in self.grid else "edge"


def _get(params: Mapping[str, Any], path: tuple[str, ...], default: Any = KeyError) -> Any:
    for key in path:
        if not isinstance(params, Mapping) or key not in params:
            if default is KeyError:
                raise KeyError(".".join(path))
            return default
        params = params[key]
    return params


def _with(params: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(params)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out
