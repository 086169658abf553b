"""The validation side of a per-night selection, prepared once per split.

A selection fits many candidates on the same inner-train ratings and scores each on the same
validation users. :class:`ValidationSet` holds what they share: the inner-train ratings in index
space (one id mapping and one CSR for every fit: :meth:`recsys_core.models.base.Recommender.fitter`)
and the validation users to score, with their validation ratings in index space.

Who is scored: users known to inner-train with at least one relevant validation rating (rating
>= ``threshold``) of an item known to inner-train, at most ``max_users`` of them (a seeded
sample, sorted). NDCG@k is :func:`recsys_core.evaluation.metrics.ranking_metrics` on their
top-k lists (candidates: the items they did not rate in inner-train), so items and users that
no candidate can score do not dilute the comparison. The sample bounds the cost of scoring a
candidate (a block product per 1,000 users, whatever the data's size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_core.data.ids import RatingData
from recsys_core.evaluation.metrics import THRESHOLD, ranking_metrics
from recsys_core.params import require
from recsys_core.ranking.scorer import ScoreBlock
from recsys_core.ranking.topn import block_topn

__all__ = ["ValidationSet"]


@dataclass(frozen=True)
class ValidationSet:
    """Inner-train ratings (``train``, and ``data`` built from them) and the scored validation
    ``users`` (indices) with their validation ratings ``truth`` (``user_id``, ``item_id`` as
    indices, ``rating``); see the module docstring."""

    train: pl.DataFrame
    data: RatingData
    users: np.ndarray
    truth: pl.DataFrame
    threshold: float

    @classmethod
    def build(
        cls,
        train: pl.DataFrame,
        validation: pl.DataFrame,
        *,
        threshold: float = THRESHOLD,
        max_users: int | None = None,
        random_state: int = 0,
        data: RatingData | None = None,
    ) -> ValidationSet:
        """The set for ``train`` (inner-train) and ``validation`` (``data``: ``train`` already
        in index space, when the caller has it)."""
        require(max_users is None or max_users >= 1, "max_users", max_users, ">= 1 or None")
        data = data or RatingData.from_frame(train)
        u = data.users.index_of(validation.get_column("user_id"))
        i = data.items.index_of(validation.get_column("item_id"))
        rating = validation.get_column("rating").cast(pl.Float64).to_numpy()
        known = (u >= 0) & (i >= 0)
        users = np.unique(u[known & (rating >= threshold)])
        if max_users is not None and len(users) > max_users:
            rng = np.random.default_rng(random_state)
            users = np.sort(rng.choice(users, max_users, replace=False))
        keep = known & np.isin(u, users)
        truth = pl.DataFrame(
            {"user_id": u[keep], "item_id": i[keep], "rating": rating[keep]},
            schema={"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64},
        )
        return cls(train, data, users.astype(np.int64), truth, float(threshold))

    def lists(self, score_block: ScoreBlock, k: int) -> pl.DataFrame:
        """Top-``k`` lists (``user_id``, ``item_id`` as indices, ``rank``) of the scored users
        from a scorer's ``score_users``, rated items excluded."""
        top = block_topn(score_block, self.data.user_items, self.users, k)
        return pl.DataFrame(
            {"user_id": top.users, "item_id": top.items, "rank": top.ranks},
            schema={"user_id": pl.Int64, "item_id": pl.Int64, "rank": pl.Int64},
        )

    def score(self, score_block: ScoreBlock, k: int) -> dict[str, float]:
        """Ranking metrics at ``k`` of a scorer on the scored users."""
        return ranking_metrics(self.lists(score_block, k), self.truth, k, self.threshold)
