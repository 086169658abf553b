"""Choosing the hybrid's weights and cold-start settings on a validation split, from FITTED scorers.

The caller splits its training ratings (:func:`validation_split`), fits the components and the
fallback on the inner training part and passes them here with the held-out part. Every candidate
setting ranks the validation users' unseen training items with the hybrid's own chain (blend ->
ranker) and is scored by :func:`recsys_core.evaluation.metrics.ranking_metrics`'s NDCG@``k``
(relevant = validation rating >= ``threshold``: the evaluation settings, passed in). The search
is by coordinates: the cold-user threshold, then the cold-item slots, then the weights on a
simplex grid of step ``1 / WEIGHT_STEPS``; ties keep the earlier candidate, the configured one
first. Only training ratings are ever used; the caller refits on all of them afterwards.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from recsys_core.data.ids import RatingData
from recsys_core.data.split import Split, random_split
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.memory import require_memory
from recsys_core.ranking.blend import blend, zscore_rows
from recsys_core.ranking.candidates import seen_mask
from recsys_core.ranking.ranker import rank_block
from recsys_core.ranking.scorer import Scorer

log = logging.getLogger(__name__)

WEIGHT_STEPS = 10
"""Steps of the weight grid: every weight is a multiple of 0.1 and they sum to 1."""


def validation_split(ratings: pl.DataFrame, fraction: float, random_state: int) -> Split:
    """The split tuning uses: a seeded random hold-out of the *training* ratings."""
    return random_split(ratings, fraction, random_state)


def weight_grid(names: list[str], first: Mapping[str, float]) -> list[dict[str, float]]:
    """The configured weights, then every point of the simplex in steps of 1/WEIGHT_STEPS."""
    grid = [dict(first)]
    for combo in itertools.product(range(WEIGHT_STEPS + 1), repeat=len(names)):
        if sum(combo) == WEIGHT_STEPS:
            grid.append({n: c / WEIGHT_STEPS for n, c in zip(names, combo, strict=True)})
    return grid


def tune(
    components: Mapping[str, Scorer],
    fallback: Scorer,
    data: RatingData,
    validation: pl.DataFrame,
    first: Mapping[str, Any],
    *,
    k: int,
    threshold: float,
    cold_item_ratings: int,
    tune_users: int,
    random_state: int,
) -> tuple[dict, pl.DataFrame]:
    """The best setting and the table of every trial (``w_<name>``, the cold-start settings and
    ``ndcg``).

    ``components`` (scored in name order) and ``fallback`` are fitted on ``data``;
    ``validation`` holds the held-out ``user_id, item_id, rating``; ``first`` is the configured
    setting ``{"weights", "cold_user_ratings", "cold_item_slots"}``; at most ``tune_users``
    validation users (a seeded sample) are scored.
    """
    names = sorted(components)
    need = 8.0 * min(tune_users, data.n_users) * data.n_items * (len(names) + 4)
    require_memory(need, f"hybrid tune_users={tune_users}", "lower hybrid.tune_users")
    users, truth = _validation_users(data, validation, threshold, tune_users, random_state)
    seen = seen_mask(data.user_items, users)
    zs = [zscore_rows(components[name].score_users(users), seen) for name in names]
    fallback_scores = np.asarray(fallback.score_users(users), dtype=np.float64)
    user_counts = np.diff(data.user_items.indptr)[users]
    item_counts = np.bincount(data.user_items.indices, minlength=data.n_items)
    cold_items = item_counts < cold_item_ratings
    no_source = np.zeros(seen.shape, dtype=np.int64)
    trials: list[dict] = []

    def trial(weights: dict[str, float], cold_user_ratings: int, cold_item_slots: int) -> float:
        w = [weights[name] for name in names]
        if sum(w) == 0:
            return -1.0
        blended, _ = blend(zs, w)
        cold_users = user_counts < cold_user_ratings
        lists = rank_block(
            blended, no_source, fallback_scores, seen, cold_users, cold_items, k, cold_item_slots
        )
        recs = pl.DataFrame(
            {"user_id": users[lists.rows], "item_id": lists.items, "rank": lists.ranks},
            schema={"user_id": pl.Int64, "item_id": pl.Int64, "rank": pl.Int64},
        )
        score = ranking_metrics(recs, truth, k, threshold)["ndcg"]
        trials.append(
            {
                "weights": weights,
                "cold_user_ratings": cold_user_ratings,
                "cold_item_slots": cold_item_slots,
                "ndcg": score,
            }
        )
        return score

    best = {**first, "weights": dict(first["weights"])}
    axes = [
        ("cold_user_ratings", list(dict.fromkeys([first["cold_user_ratings"], 0, 3, 5, 10]))),
        ("cold_item_slots", list(dict.fromkeys([first["cold_item_slots"], 0, 1, 2]))),
        ("weights", weight_grid(names, first["weights"])),
    ]
    for key, values in axes:
        scores = [trial(**{**best, key: v}) for v in values]
        best[key] = values[int(np.argmax(scores))]  # ties: the earliest (configured) value
    log.info(
        "hybrid tuning: %d trials on %d validation users, chose %s", len(trials), len(users), best
    )
    table = pl.DataFrame(
        {
            **{f"w_{n}": [t["weights"][n] for t in trials] for n in names},
            "cold_user_ratings": [t["cold_user_ratings"] for t in trials],
            "cold_item_slots": [t["cold_item_slots"] for t in trials],
            "ndcg": [t["ndcg"] for t in trials],
        }
    )
    return best, table


def _validation_users(
    data: RatingData, validation: pl.DataFrame, threshold: float, limit: int, seed: int
) -> tuple[np.ndarray, pl.DataFrame]:
    """Known validation users with a relevant known item (a seeded sample of at most
    ``limit``, sorted), and their validation ratings of known items in index space."""
    u = data.users.index_of(validation.get_column("user_id"))
    i = data.items.index_of(validation.get_column("item_id"))
    rating = validation.get_column("rating").to_numpy()
    known = (u >= 0) & (i >= 0)
    users = np.unique(u[known & (rating >= threshold)])
    if len(users) > limit:
        users = np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))
    keep = known & np.isin(u, users)
    truth = pl.DataFrame(
        {"user_id": u[keep], "item_id": i[keep], "rating": rating[keep]},
        schema={"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64},
    )
    return users, truth
