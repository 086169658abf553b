"""Choosing the hybrid's weights and cold-start settings on a validation split, from FITTED scorers.

The caller splits its training ratings (:func:`validation_split`), prepares the split once
(:class:`~recsys_core.evaluation.validation.ValidationSet`: the inner training part in index
space and a bounded sample of validation users), fits the components and the fallback on the
inner training part and passes them here with it. Every candidate
setting ranks the validation users' unseen training items with the hybrid's own chain (blend ->
ranker) and is scored by :func:`recsys_core.evaluation.metrics.ranking_metrics`'s NDCG@``k``
(relevant = validation rating >= ``threshold``: the evaluation settings, passed in).

The search is greedy, so it grows linearly with the number of components (a full simplex grid
of step 0.1 over 4 components is 286 points, over 5 it is 1001):

1. ``single``: each component alone (weight 1) at the first cold-start settings; the best one
   is the start (ties: name order);
2. ``cold_user_ratings`` then ``cold_item_slots``: coordinate steps with that component, ties
   keep the first value;
3. ``add``: the other components in order of their single NDCG, each tried at the weights
   ``a`` in :data:`ADD_WEIGHTS` (the kept weights scaled by ``1 - a``) at those cold-start
   settings; it is kept only if the best of these strictly improves NDCG (ties keep fewer
   components);
4. ``check``: each component alone again at the final cold-start settings; one that ties or
   beats the blend replaces it.

The cold-start settings come before the weights because they move NDCG more than the weights
do (reserving a slot for a cold item: -0.009 on ML-100k's validation), so a blend judged at the
first settings can lose to a single component that the final settings would have let it beat.
Cross-validating the whole night on training data only (``benchmarks/defaults_cv.py``: ML-100k's
protocol train part and two synthetic sets) found the two orders tied (mean relative NDCG@10
within 0.0005), so the order stays (``docs/benchmarks.md``, "iALS factors and sweeps").

So the chosen blend is never worse on validation than its best single component, and a
component that does not help gets weight 0. Only training ratings are ever used; the caller
refits on all of them afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recsys_core.data.split import Split, random_split
from recsys_core.evaluation.metrics import per_user_ranking
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.memory import require_memory
from recsys_core.ranking.blend import blend, zscore_rows
from recsys_core.ranking.candidates import seen_mask
from recsys_core.ranking.ranker import rank_block
from recsys_core.ranking.scorer import Scorer

log = logging.getLogger(__name__)

ADD_WEIGHTS = (0.2, 0.35, 0.5, 0.65)
"""Weights tried for a component joining the blend (the kept ones share ``1 - a``). Validation
NDCG@10 of iALS + EASE at ``a`` = 0.2 / 0.35 / 0.5 / 0.65 (ML-100k: the held-out protocol's
train part, split 80/20 by ``random_split(seed=0)``; EASE reg 400, iALS 32 factors reg 30;
cold-start 5 / 1): 0.2392 / 0.2410 / 0.2416 / 0.2398, singles 0.2366 (EASE) and 0.2382 (iALS).
The curve is flat within 0.0006 between 0.35 and 0.5, so a finer grid would follow noise."""

COLD_USER_RATINGS = (0, 3, 5, 10)
"""Candidates of ``cold_user_ratings`` after the first (configured or last night's) value."""

COLD_ITEM_SLOTS = (0, 1, 2)
"""Candidates of ``cold_item_slots`` after the first value."""


def validation_split(ratings: pl.DataFrame, fraction: float, random_state: int) -> Split:
    """The split tuning uses: a seeded random hold-out of the *training* ratings."""
    return random_split(ratings, fraction, random_state)


def tune(
    components: Mapping[str, Scorer],
    fallback: Scorer,
    validation: ValidationSet,
    first: Mapping[str, Any],
    *,
    k: int,
    cold_item_ratings: int,
    cold_first: bool = True,
    more: Sequence[tuple[Mapping[str, Scorer], Scorer, ValidationSet]] = (),
) -> tuple[dict, pl.DataFrame]:
    """The best setting ``{"weights", "cold_user_ratings", "cold_item_slots"}`` (every
    component named, weight 0 when left out) and the table of every trial (``stage``,
    ``w_<name>``, the cold-start settings and ``ndcg``), by the search of the module docstring.

    ``components`` and ``fallback`` are fitted on ``validation.data`` (inner-train), whose
    scored users and validation ratings judge each setting (relevant = rating >= its
    ``threshold``); ``first`` gives the first ``cold_user_ratings`` and ``cold_item_slots``
    (the configured or last night's). ``cold_first=False`` swaps steps 2 and 3 (the weights
    at the first cold-start settings, then the cold-start steps with the blend: the earlier
    order, kept so that ``benchmarks/defaults_cv.py`` can compare the two).
    """
    names = sorted(components)
    splits = [(components, fallback, validation), *more]
    prepared = [_prepare(c, f, v, names, cold_item_ratings) for c, f, v in splits]
    n_users = sum(len(v.users) for _, _, v in splits)
    need = 8.0 * n_users * validation.data.n_items * (len(names) + 4)
    require_memory(need, f"hybrid tune_users={n_users}", "lower hybrid.tune_users")
    trials: list[dict] = []

    def trial(stage: str, setting: Mapping[str, Any]) -> float:
        weights = {n: 0.0 for n in names} | dict(setting["weights"])
        per_user = [_per_user(part, [weights[n] for n in names], setting, k) for part in prepared]
        values = np.concatenate(per_user)
        score = float(values.mean()) if len(values) else float("nan")
        trials.append({"stage": stage, **setting, "weights": weights, "ndcg": score})
        return score

    best: dict[str, Any] = {key: first[key] for key in ("cold_user_ratings", "cold_item_slots")}
    singles = {name: trial("single", {**best, "weights": {name: 1.0}}) for name in names}
    order = sorted(names, key=lambda n: -singles[n])  # stable: ties in name order
    best["weights"], score = {order[0]: 1.0}, singles[order[0]]

    def cold_steps(best: dict[str, Any], score: float) -> tuple[dict[str, Any], float]:
        for key, values in (
            ("cold_user_ratings", COLD_USER_RATINGS),
            ("cold_item_slots", COLD_ITEM_SLOTS),
        ):
            for value in dict.fromkeys(values):
                if value != best[key] and (s := trial(key, {**best, key: value})) > score:
                    best, score = {**best, key: value}, s
        return best, score

    def add(best: dict[str, Any], score: float) -> tuple[dict[str, Any], float]:
        weights, score = _add_components(
            order, best["weights"], score, lambda w: trial("add", {**best, "weights": w})
        )
        return {**best, "weights": weights}, score

    for step in (cold_steps, add) if cold_first else (add, cold_steps):
        best, score = step(best, score)
    if sum(w > 0 for w in best["weights"].values()) > 1:
        for name in names:
            alone = {**best, "weights": {name: 1.0}}
            if (s := trial("check", alone)) >= score:
                best, score = alone, s
    best["weights"] = {n: float(best["weights"].get(n, 0.0)) for n in names}
    log.info(
        "hybrid tuning: %d trials on %d validation users, chose %s", len(trials), n_users, best
    )
    return best, _table(trials, names)


@dataclass(frozen=True)
class _Prepared:
    """One validation split's fixed inputs of every trial."""

    users: np.ndarray
    truth: pl.DataFrame
    threshold: float
    zs: list[np.ndarray]
    fallback_z: np.ndarray
    seen: Any
    no_source: np.ndarray
    user_counts: np.ndarray
    cold_items: np.ndarray


def _prepare(
    components: Mapping[str, Scorer],
    fallback: Scorer,
    validation: ValidationSet,
    names: list[str],
    cold_item_ratings: int,
) -> _Prepared:
    data, users = validation.data, validation.users
    seen = seen_mask(data.user_items, users)
    item_counts = np.bincount(data.user_items.indices, minlength=data.n_items)
    return _Prepared(
        users=users,
        truth=validation.truth,
        threshold=validation.threshold,
        zs=[zscore_rows(components[name].score_users(users), seen) for name in names],
        fallback_z=zscore_rows(np.asarray(fallback.score_users(users), dtype=np.float64), seen),
        seen=seen,
        no_source=np.zeros(seen.shape, dtype=np.int64),  # the trials need no sources
        user_counts=np.diff(data.user_items.indptr)[users],
        cold_items=item_counts < cold_item_ratings,
    )


def _per_user(
    part: _Prepared, weights: list[float], setting: Mapping[str, Any], k: int
) -> np.ndarray:
    """NDCG@``k`` of each of ``part``'s users with a relevant item under ``setting``."""
    blended, _ = blend(part.zs, weights)
    cold_users = part.user_counts < setting["cold_user_ratings"]
    lists = rank_block(blended, part.no_source, part.fallback_z, part.seen, cold_users,
                       part.cold_items, k, setting["cold_item_slots"])  # fmt: skip
    recs = pl.DataFrame(
        {"user_id": part.users[lists.rows], "item_id": lists.items, "rank": lists.ranks},
        schema={"user_id": pl.Int64, "item_id": pl.Int64, "rank": pl.Int64},
    )
    return per_user_ranking(recs, part.truth, k, part.threshold)["ndcg"].to_numpy()


def _add_components(
    order: list[str], weights: dict[str, float], score: float, run: Any
) -> tuple[dict[str, float], float]:
    """Step 3 of the module docstring: ``run(weights) -> ndcg``."""
    for name in order[1:]:
        tried = []
        for a in ADD_WEIGHTS:
            w = {c: round(v * (1 - a), 6) for c, v in weights.items()} | {name: a}
            tried.append((run(w), w))
        s, w = max(tried, key=lambda t: t[0])  # ties: the smaller weight (first)
        if s > score:
            weights, score = w, s
    return weights, score


def _table(trials: list[dict], names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "stage": [t["stage"] for t in trials],
            **{f"w_{n}": [float(t["weights"][n]) for t in trials] for n in names},
            "cold_user_ratings": [t["cold_user_ratings"] for t in trials],
            "cold_item_slots": [t["cold_item_slots"] for t in trials],
            "ndcg": [float(t["ndcg"]) for t in trials],
        },
        schema_overrides={"cold_user_ratings": pl.Int64, "cold_item_slots": pl.Int64},
    )
