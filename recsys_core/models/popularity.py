"""Popularity: the non-personalised baseline and the hybrid's cold-start fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from recsys_core.data.ids import RatingData
from recsys_core.errors import DataError
from recsys_core.models.base import Recommender
from recsys_core.params import require

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, kw_only=True)
class PopularityParams:
    """Hyperparameters of :class:`Popularity`.

    Attributes:
        score: what ranks items: ``"count"`` (number of ratings, the default) or
            ``"damped_mean"`` (see below).
        damping: ``d`` in the damped mean rating of item i,
            ``(sum_u r_ui + d * mu) / (n_i + d)``, where ``mu`` is the global mean and ``n_i`` the
            item's rating count. It shrinks items with few ratings toward ``mu``.
        window_days: if set, ``count`` only counts ratings from the last ``window_days`` days
            before the newest training timestamp (needs timestamps). The damped mean always uses
            every rating.
    """

    score: Literal["count", "damped_mean"] = "count"
    damping: float = 5.0
    window_days: float | None = None

    def __post_init__(self) -> None:
        require(self.score in ("count", "damped_mean"), "score", self.score, "count|damped_mean")
        require(self.damping >= 0, "damping", self.damping, ">= 0")
        require(
            self.window_days is None or self.window_days > 0,
            "window_days",
            self.window_days,
            "None or > 0",
        )


class Popularity(Recommender):
    """Recommends the most-rated items (optionally within a recent window) to everyone.

    ``predict`` returns the item's damped mean rating (the global mean for unknown items), so the
    baseline also has an RMSE.
    """

    Params = PopularityParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        m = data.user_items
        self.mu_ = data.global_mean
        n_i = np.bincount(m.indices, minlength=data.n_items).astype(np.float64)
        sums = np.bincount(m.indices, weights=m.data, minlength=data.n_items)
        d = self.params.damping
        with np.errstate(invalid="ignore", divide="ignore"):
            self.damped_mean_ = (sums + d * self.mu_) / (n_i + d)
        self.damped_mean_[n_i + d == 0] = self.mu_
        self.count_ = self._window_counts(data, ratings) if self.params.window_days else n_i

    def _window_counts(self, data: RatingData, ratings: pl.DataFrame) -> np.ndarray:
        if "timestamp" not in ratings.columns or ratings.get_column("timestamp").null_count():
            raise DataError("Popularity(window_days=...) needs a timestamp on every rating")
        ts = ratings.get_column("timestamp")
        cutoff = ts.max() - self.params.window_days * SECONDS_PER_DAY
        recent = ratings.filter(pl.col("timestamp") >= cutoff).get_column("item_id")
        return np.bincount(data.items.index_of(recent), minlength=data.n_items).astype(np.float64)

    @property
    def item_scores_(self) -> np.ndarray:
        """The ranking score of every item (by index)."""
        return self.count_ if self.params.score == "count" else self.damped_mean_

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Every user gets the same item scores (a read-only broadcast view)."""
        return np.broadcast_to(self.item_scores_, (len(users), self.data.n_items))

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        known = items >= 0
        out = np.full(len(items), self.mu_)
        out[known] = self.damped_mean_[items[known]]
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"mu": np.asarray(self.mu_), "damped": self.damped_mean_, "count": self.count_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.mu_ = float(arrays["mu"])
        self.damped_mean_ = arrays["damped"]
        self.count_ = arrays["count"]
