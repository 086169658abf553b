"""Choosing the hybrid's weights and cold-start settings honestly.

The training ratings are split again (seeded random ``validation_fraction``); the components are
fitted on the rest; every candidate setting ranks the validation users' unseen training items
and is scored by NDCG@10 (relevant = validation rating >= 4), in a coordinate search (the
cold-user threshold, then the cold-item slots, then the weights on a simplex grid of step 0.1;
ties keep the earlier candidate, the configured one first). Only training ratings are ever used; the
caller refits on all of them afterwards.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recsys_core.data.split import Split, random_split
from recsys_core.hybrid.ranker import rank_block
from recsys_core.hybrid.scoring import blend, zscore_rows
from recsys_core.memory import require_memory

if TYPE_CHECKING:
    from recsys_core.hybrid.model import Hybrid

log = logging.getLogger(__name__)

K = 10
THRESHOLD = 4.0
WEIGHT_STEPS = 10


def validation_split(ratings: pl.DataFrame, fraction: float, random_state: int) -> Split:
    """The split tuning uses: a seeded random hold-out of the *training* ratings."""
    return random_split(ratings, fraction, random_state)


def weight_grid(names: list[str], first: dict[str, float]) -> list[dict[str, float]]:
    """The configured weights, then every point of the simplex in steps of 1/WEIGHT_STEPS."""
    grid = [first]
    for combo in itertools.product(range(WEIGHT_STEPS + 1), repeat=len(names)):
        if sum(combo) == WEIGHT_STEPS:
            grid.append({n: c / WEIGHT_STEPS for n, c in zip(names, combo, strict=True)})
    return grid


def ndcg_at_k(
    items: np.ndarray, rows: np.ndarray, ranks: np.ndarray, relevant: np.ndarray
) -> float:
    """Mean binary NDCG@K over the rows of ``relevant`` (b x m bool, every row has one)."""
    b = relevant.shape[0]
    gains = relevant[rows, items] / np.log2(ranks + 1.0)
    dcg = np.bincount(rows, weights=gains * (ranks <= K), minlength=b)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, K + 2)))])
    return float(np.mean(dcg / ideal[np.minimum(relevant.sum(1), K)]))


def tune(hybrid: Hybrid, ratings: pl.DataFrame, first: dict) -> tuple[dict, pl.DataFrame]:
    """Best setting on the validation split, and the table of every trial."""
    from recsys_core.hybrid.model import Hybrid as HybridModel
    from recsys_core.hybrid.model import seen_mask

    p = hybrid.params
    split = validation_split(ratings, p.validation_fraction, p.random_state)
    probe = HybridModel(**{**_params(p), "tune": False}).fit(split.train)
    data = probe.data
    need = 8.0 * min(p.tune_users, data.n_users) * data.n_items * (len(p.components) + 4)
    require_memory(need, f"hybrid tune_users={p.tune_users}", "lower hybrid.tune_users")
    users, relevant = _validation_users(probe, split.test, p.tune_users, p.random_state)
    seen = seen_mask(data.user_items, users)
    zs = [zscore_rows(c.score_users(users), seen) for c in probe.components_.values()]
    fallback = np.asarray(probe.fallback_.score_users(users), dtype=np.float64)
    names = list(probe.components_)
    cold_items = probe.item_counts_ < p.cold_item_ratings
    counts = probe.user_counts_[users]
    trials: list[dict] = []

    def trial(weights: dict[str, float], cold_users: int, slots: int) -> float:
        w = [weights[n] for n in names]
        if sum(w) == 0:
            return -1.0
        blended, _ = blend(zs, w)
        source = np.zeros(blended.shape, dtype=np.int64)
        lists = rank_block(
            blended, source, fallback, seen, counts < cold_users, cold_items, K, slots
        )
        score = ndcg_at_k(lists.items, lists.rows, lists.ranks, relevant)
        trials.append(
            {
                "weights": weights,
                "cold_user_ratings": cold_users,
                "cold_item_slots": slots,
                "ndcg": score,
            }
        )
        return score

    # coordinate search: the cold-user threshold, the cold-item slots, then the weights
    best = dict(first)
    axes = [
        ("cold_user_ratings", list(dict.fromkeys([first["cold_user_ratings"], 0, 3, 5, 10]))),
        ("cold_item_slots", list(dict.fromkeys([first["cold_item_slots"], 0, 1, 2]))),
        ("weights", weight_grid(names, first["weights"])),
    ]
    for key, values in axes:
        scores = [trial(**{**_args(best), _arg(key): v}) for v in values]
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


def _args(chosen: dict) -> dict:
    return {
        "weights": chosen["weights"],
        "cold_users": chosen["cold_user_ratings"],
        "slots": chosen["cold_item_slots"],
    }


def _arg(key: str) -> str:
    return {"weights": "weights", "cold_user_ratings": "cold_users", "cold_item_slots": "slots"}[
        key
    ]


def _params(p) -> dict:
    return dict(p)  # a pydantic model iterates as (field name, value) pairs


def _validation_users(
    probe, test: pl.DataFrame, limit: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Known validation users with a relevant item (at most ``limit``), and their relevance."""
    data = probe.data
    rel = test.filter(pl.col("rating") >= THRESHOLD)
    u = data.users.index_of(rel.get_column("user_id"))
    i = data.items.index_of(rel.get_column("item_id"))
    ok = (u >= 0) & (i >= 0)
    u, i = u[ok], i[ok]
    users = np.unique(u)
    if len(users) > limit:
        users = np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))
    pos = np.searchsorted(users, u)
    inside = (pos < len(users)) & (users[np.minimum(pos, len(users) - 1)] == u)
    relevant = np.zeros((len(users), data.n_items), dtype=bool)
    relevant[pos[inside], i[inside]] = True
    return users, relevant
