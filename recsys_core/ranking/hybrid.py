"""``Hybrid``: blends component ranking scores, backfills with popularity, handles cold start.

Components are any registered models (by class name) with their keyword parameters, e.g.
``{"ease": {"model": "EASE", "params": {"reg": 200}}, "ials": {"model": "IALS"}}``. The hybrid
is LensKit's chain: candidates (:mod:`recsys_core.ranking.candidates`, minus any business-rule
exclusions) -> scorer (the components' scores, z-scored and blended:
:mod:`recsys_core.ranking.blend`) -> fallback (the fallback model's scores, z-scored over the
same candidates, fill what no component scores) -> ranker with cold-item slots
(:mod:`recsys_core.ranking.ranker`, built on the one top-N
:func:`recsys_core.ranking.topn.top_k_rows`).

Per night, :func:`choose_settings` chooses on a validation split of the training data (never
anything else) each component's key hyperparameters (:func:`recsys_core.evaluation.select.select`,
warm-started from last night, within a time budget), then which components to keep and their
weights and the cold-start settings (:func:`recsys_core.ranking.tuning.tune`).

One unit: every published score is a z-score over the user's candidates (a blend of component
z-scores, or the fallback's own z-score for cold users and fills), capped so that scores never
increase down a list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Self

import numpy as np
import polars as pl

from recsys_core.data.ids import RatingData
from recsys_core.evaluation.metrics import THRESHOLD, K
from recsys_core.models.base import Recommender
from recsys_core.models.components import components_state, restore_components
from recsys_core.models.ease import EASE
from recsys_core.models.registry import build
from recsys_core.params import as_dict, build_params, require
from recsys_core.progress import Progress
from recsys_core.ranking.blend import blend_into, zscore_rows, zscore_scored
from recsys_core.ranking.candidates import seen_mask
from recsys_core.ranking.choice import (
    HybridParams,
    choose_settings,
    component_spec,
    configured,
    fit_kept,
    kept,
)
from recsys_core.ranking.params import BlendParams
from recsys_core.ranking.ranker import FALLBACK, BlockLists, rank_block
from recsys_core.ranking.topn import SCORE_BUDGET, TopN, auto_block_size, map_blocks

__all__ = [
    "BlendParams",
    "Exclude",
    "Hybrid",
    "HybridParams",
    "choose_settings",
    "component_spec",
    "configured",
    "fit_kept",
    "kept",
]

Exclude = Callable[[np.ndarray], np.ndarray | None]
"""A business-rule hook: user indices (length b) -> a (b x n_items) bool mask of items that
must never be recommended to them (None: nothing excluded). The ranker treats them exactly like
items the user rated."""

HYBRID_BUDGET = SCORE_BUDGET // 2
"""Scores per block of the hybrid, which holds about six block-sized arrays at once (scores,
z-scores, blend sums, masks); measured in ``docs/benchmarks.md``, "ranking/hybrid"."""


class Hybrid(Recommender):
    """Blended top-N with popularity backfill and cold-start handling (see module docstring).

    ``recommend`` follows the model contract; :meth:`recommend_explained` adds ``source`` (the
    kept component with the largest weighted z-score ``w_c z_c(u, i)`` for the row, or
    ``popularity`` for the fallback's rows) and ``explanation`` (up to 3 of the user's rated
    items behind the row: from item-KNN when it is a component, else from EASE). ``predict``
    is NaN: the hybrid ranks; use a rating model for estimates.

    ``exclude`` (an :data:`Exclude` callback, or None) removes business-rule exclusions from
    every user's candidates, exactly like rated items.
    """

    Params = HybridParams
    exclude: Exclude | None = None

    def fit(
        self,
        ratings: pl.DataFrame,
        *,
        rating_scale: tuple[float, float] | None = None,
        k: int = K,
        threshold: float = THRESHOLD,
        warm_start: Mapping[str, Any] | None = None,
    ) -> Self:
        """Fit on ``ratings``; with ``tune``, settings are chosen by :func:`choose_settings`
        (NDCG@``k``, relevant = rating >= ``threshold``: pass the run's evaluation settings),
        then the kept components are refitted on all of ``ratings``."""
        self._evaluation = (k, threshold, warm_start)
        return super().fit(ratings, rating_scale=rating_scale)

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        p = self.params
        chosen, self.tuning_ = configured(p), pl.DataFrame()
        if p.tune:
            k, threshold, warm = getattr(self, "_evaluation", (K, THRESHOLD, None))
            chosen, self.tuning_ = choose_settings(
                p, ratings, k=k, threshold=threshold, warm_start=warm
            )
        self.chosen_ = chosen
        self.components_ = fit_kept(p, chosen, ratings)
        self.fallback_ = build(p.fallback).fit(ratings)
        self._counts(data)

    @classmethod
    def assemble(
        cls,
        fitted: Mapping[str, Recommender],
        fitted_fallback: Recommender,
        chosen: Mapping[str, Any],
        *,
        exclude: Exclude | None = None,
        **params: Any,
    ) -> Hybrid:
        """A fitted hybrid from fitted models (all on the same ratings) and a setting (as
        :func:`choose_settings` or :func:`configured` return), without refitting anything.

        ``fitted`` must hold every kept component (weight > 0), fitted with the chosen
        parameters; other entries are ignored. ``exclude``: see :data:`Exclude`.
        """
        hybrid = cls(**params)
        data = fitted_fallback.data
        given = chosen.get("components", {})
        for name in kept(chosen):
            require(name in fitted, f"components.{name}", None, "fitted: it has a weight > 0")
            model = fitted[name]
            same = model.data.items.ids.equals(data.items.ids) and model.data.users.ids.equals(
                data.users.ids
            )
            require(same, f"components.{name}", name, "fitted on the same ratings as the fallback")
            if name in given:
                want = build_params(type(model).Params, given[name], name)
                require(
                    model.params == want,
                    f"components.{name}",
                    as_dict(model.params),
                    f"fitted with the chosen parameters {given[name]}",
                )
        hybrid.components_ = {name: fitted[name] for name in kept(chosen)}
        hybrid.fallback_ = fitted_fallback
        hybrid.chosen_ = json.loads(json.dumps(chosen))  # a copy that shares nothing
        hybrid.tuning_ = pl.DataFrame()
        hybrid.exclude = exclude
        hybrid._data = data
        hybrid._counts(data)
        return hybrid

    def _fold_in(self, fitted: RatingData) -> None:
        """Every component and the fallback folded in (each keeps its item side); the user
        counts (cold-start users) come from the rows, the item counts (cold items) stay the
        fit's: which items are cold is an item-side choice of the night. The ``exclude`` hook
        indexes the fit's users, so it is dropped: set one for the new users."""
        data = self.data
        self.components_ = {
            name: c.for_users(data.users, data.user_items) for name, c in self.components_.items()
        }
        self.fallback_ = self.fallback_.for_users(data.users, data.user_items)
        self.user_counts_ = np.diff(data.user_items.indptr)
        self.exclude = None

    def _counts(self, data: RatingData) -> None:
        m = data.user_items
        self.user_counts_ = np.diff(m.indptr)
        self.item_counts_ = np.bincount(m.indices, minlength=data.n_items)

    @property
    def source_names(self) -> list[str]:
        """Names behind the ``source`` codes >= 0: the kept components in name order."""
        return list(self.components_)

    def unavailable(self, users: np.ndarray) -> np.ndarray:
        """(b x n_items) mask of what ``users`` may not get: rated items and exclusions."""
        seen = seen_mask(self.data.user_items, users)
        mask = None if self.exclude is None else self.exclude(users)
        if mask is not None:
            mask = np.asarray(mask)
            require(
                mask.dtype == bool and mask.shape == seen.shape,
                "exclude",
                f"{mask.dtype} {mask.shape}",
                f"a bool mask of shape {seen.shape}",
            )
            seen |= mask
        return seen

    def lists_block(self, users: np.ndarray, n: int, chosen: dict | None = None) -> BlockLists:
        """Top-``n`` of a block of user indices with the chosen (or given) settings."""
        chosen = chosen or self.chosen_
        seen = self.unavailable(users)
        weights = [chosen["weights"].get(name, 0.0) for name in self.components_]
        live = [c for c, w in enumerate(weights) if w > 0]
        if len(live) == 1:  # one component: its z-scores, every row its source
            blended = self._single(users, seen, live[0], weights[live[0]])
            source_of = lambda rows, items: np.full(len(rows), live[0], dtype=np.int64)  # noqa: E731
        else:
            top, better = np.full(seen.shape, -np.inf), np.empty(seen.shape, dtype=bool)
            source = np.zeros(seen.shape, dtype=np.int16)

            def keep_top(c: int, ok: np.ndarray, wz: np.ndarray) -> None:
                np.greater(wz, top, out=better)
                np.logical_and(better, ok, out=better)  # ties: the earlier component (name order)
                np.copyto(top, wz, where=better)
                source[better] = c

            blended = self._blended(users, seen, chosen, keep_top)
            source_of = lambda rows, items: source[rows, items].astype(np.int64)  # noqa: E731
        cold_users = self.user_counts_[users] < chosen["cold_user_ratings"]
        cold_items = self.item_counts_ < self.params.cold_item_ratings

        def fallback(rows: np.ndarray) -> np.ndarray:  # in the components' unit, rows needed
            scores = np.asarray(self.fallback_.score_users(users[rows]), dtype=np.float64)
            return zscore_rows(scores, seen[rows])

        return rank_block(
            blended,
            source_of,
            fallback,
            seen,
            cold_users,
            cold_items,
            n,
            chosen["cold_item_slots"],
        )

    def _blended(
        self,
        users: np.ndarray,
        seen: np.ndarray,
        chosen: Mapping[str, Any],
        on_scored: Callable[[int, np.ndarray, np.ndarray], object] | None = None,
    ) -> np.ndarray:
        """Blended z-scores of a block, one component's scores in memory at a time."""
        weights = [chosen["weights"].get(name, 0.0) for name in self.components_]
        zs = (
            zscore_scored(c.score_users(users), seen) if w > 0 else None
            for c, w in zip(self.components_.values(), weights, strict=True)
        )
        return blend_into(zs, weights, seen.shape, on_scored)

    def _single(self, users: np.ndarray, seen: np.ndarray, c: int, w: float) -> np.ndarray:
        """:meth:`_blended` of a block when only component ``c`` has a weight (``w``): the same
        bits (``w z / w``, NaN where it cannot score) without the blend's sums and masks."""
        z, ok = zscore_scored(list(self.components_.values())[c].score_users(users), seen)
        if w != 1:
            np.divide(np.multiply(z, w, out=z), w, out=z)
        np.copyto(z, np.nan, where=~ok)
        return z

    def _topn(self, users: np.ndarray, n: int, block_size: int | None) -> TopN:
        return self._lists(users, n, block_size)[0]

    def _lists(
        self, idx: np.ndarray, n: int, block_size: int | None, threads: int | None = None
    ) -> tuple[TopN, np.ndarray]:
        size = block_size or auto_block_size(self.data.n_items, HYBRID_BUDGET)
        progress = Progress(len(idx), "users ranked")

        def one(block: np.ndarray) -> tuple:
            lists = self.lists_block(block, n)
            return block[lists.rows], lists.ranks, lists.items, lists.scores, lists.source

        parts = map_blocks(one, idx, size, threads, progress.update)
        sources = [p[4] for p in parts]
        src = np.concatenate(sources) if sources else np.empty(0, dtype=np.int64)
        return TopN.concat([p[:4] for p in parts]), src

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Blended z-scores (NaN where no component scores); ranking uses :meth:`lists_block`."""
        return self._blended(users, self.unavailable(users), self.chosen_)

    def recommend_explained(
        self,
        n: int = 10,
        users: pl.Series | list | None = None,
        block_size: int | None = None,
        threads: int | None = None,
    ) -> pl.DataFrame:
        """``user_id, rank, item_id, score, source, explanation`` (see the class docstring);
        blocks of users are ranked on ``threads`` threads (None: one per CPU), same result."""
        top, src = self._lists(self.known_users(users), n, block_size, threads)
        recs = self.to_frame(top)
        names = np.array([*self.source_names, "popularity"])
        recs = recs.with_columns(pl.Series("source", names[np.where(src == FALLBACK, -1, src)]))
        return self._explain(recs, src == FALLBACK)

    def _explain(self, recs: pl.DataFrame, fallback: np.ndarray) -> pl.DataFrame:
        """Explanations of the component rows (a popularity *component* row keeps one too: the
        item was still ranked by the blend); the fallback's rows get none."""
        explainers = [c for c in self.components_.values() if hasattr(c, "explain")]
        explainer = min(explainers, key=lambda c: isinstance(c, EASE), default=None)  # KNN first
        item_dtype = recs.schema["item_id"]
        empty = pl.lit([], dtype=pl.List(item_dtype))
        if explainer is None or recs.height == 0:
            return recs.with_columns(empty.alias("explanation"))
        explained = explainer.explain(recs.select("user_id", "rank", "item_id", "score"))
        because = explained.get_column("because").cast(pl.List(item_dtype))
        return recs.with_columns(
            pl.when(pl.Series(fallback)).then(empty).otherwise(because).alias("explanation")
        )

    def _state(self) -> dict[str, np.ndarray]:
        chosen = np.frombuffer(json.dumps(self.chosen_).encode(), dtype=np.uint8)
        return {
            "chosen": chosen,
            **components_state({**self.components_, FALLBACK_KEY: self.fallback_}),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.chosen_ = json.loads(arrays["chosen"].tobytes().decode())
        self.tuning_ = pl.DataFrame()
        specs = {
            **{n: component_spec(self.params, self.chosen_, n) for n in kept(self.chosen_)},
            FALLBACK_KEY: self.params.fallback,
        }
        models = restore_components(specs, arrays, self.data)
        self.fallback_ = models.pop(FALLBACK_KEY)
        self.components_ = models
        self._counts(self.data)


FALLBACK_KEY = "__fallback"
"""Key prefix of the fallback model's arrays in a saved hybrid."""
