"""Popularity: the non-personalised baseline and the hybrid's cold-start fallback."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from recsys_core.data.ids import RatingData
from recsys_core.errors import DataError
from recsys_core.models.base import Recommender
from recsys_core.params import Params

SECONDS_PER_DAY = 86_400


class PopularityParams(Params):
    """Hyperparameters of :class:`Popularity`."""

    score: Literal["count", "damped_mean"] = "count"
    """What ranks items: ``"count"``, the number of ratings (default: what users rate most is
    the strongest non-personal signal for top-N), or ``"damped_mean"`` (see ``damping``)."""
    damping: float = Field(5.0, ge=0)
    """``d`` in the damped mean rating of item i, ``(sum_u r_ui + d * mu) / (n_i + d)``, with
    ``mu`` the global mean and ``n_i`` the item's rating count: it shrinks items with few
    ratings toward ``mu`` (5: an item needs a handful of ratings to move away from it)."""
    window_days: float | None = Field(None, gt=0)
    """If set, ``count`` only counts ratings from the last ``window_days`` days before the
    newest training timestamp (needs timestamps); the damped mean always uses every rating.
    None (default): every rating counts."""


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

    def _fold_in(self, fitted: RatingData) -> None:
        """Nothing is per user: the item scores stay the fit's."""

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
