"""``Hybrid``: blends component ranking scores, backfills with popularity, handles cold start.

Components are any registered models (by class name) with their keyword parameters, e.g.
``{"item_knn": {"model": "KNNWithMeans", "params": {"k": 40}}, "pure_svd": {"model":
"PureSVD"}}``. The hybrid is LensKit's chain: candidates (:mod:`recsys_core.ranking.candidates`)
-> scorer (the components' scores, z-scored and blended: :mod:`recsys_core.ranking.blend`) ->
fallback (the fallback model's scores fill what no component scores) -> ranker with cold-item
slots (:mod:`recsys_core.ranking.ranker`, built on the one top-N
:func:`recsys_core.ranking.topn.top_k_rows`). With ``tune=True``, ``fit`` picks the weights and
cold-start settings on a validation split of the training data (never anything else), then
refits every component on all of it (:func:`choose_settings`, :mod:`recsys_core.ranking.tuning`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Self

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from recsys_core.data.ids import RatingData
from recsys_core.evaluation.metrics import THRESHOLD, K
from recsys_core.models.base import Recommender
from recsys_core.models.components import components_state, restore_components
from recsys_core.models.registry import build, check_spec
from recsys_core.params import BadKey, Params, require
from recsys_core.ranking.blend import blend_into, zscore_scored
from recsys_core.ranking.candidates import seen_mask
from recsys_core.ranking.ranker import FALLBACK, BlockLists, rank_block
from recsys_core.ranking.topn import SCORE_BUDGET, TopN, auto_block_size, user_blocks
from recsys_core.ranking.tuning import tune, validation_split

HYBRID_BUDGET = SCORE_BUDGET // 2
"""Scores per block of the hybrid, which holds about six block-sized arrays at once (scores,
z-scores, blend sums, masks); measured in ``docs/benchmarks.md``, "ranking/hybrid"."""

DEFAULT_COMPONENTS = {
    "item_knn": {"model": "KNNWithMeans", "params": {"k": 40}},
    "pure_svd": {"model": "PureSVD", "params": {}},
    "popularity": {"model": "Popularity", "params": {}},
}


class BlendParams(Params):
    """The blend and cold-start part of :class:`HybridParams` (the ``hybrid`` settings
    section: the components come from the ``models`` section)."""

    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    """Component name -> blend weight ``w_c`` of its z-scored score (finite, >= 0);
    components missing here weigh 1, an equal blend, until tuning says otherwise."""
    cold_user_ratings: int = Field(5, ge=0)
    """Users with fewer training ratings get the fallback list: their few ratings make poor
    neighbourhoods and factors (5, and tuned when ``tune``)."""
    cold_item_ratings: int = Field(5, ge=0)
    """Items with fewer training ratings are cold: blended scores rarely rank them, so
    ``cold_item_slots`` reserves room for them."""
    cold_item_slots: int = Field(1, ge=0)
    """Slots at the end of each list reserved for the best cold items (1: new items get seen
    at little cost; tuned when ``tune``)."""
    tune: bool = True
    """Choose ``weights``, ``cold_user_ratings`` and ``cold_item_slots`` on a validation split
    of the training data by NDCG@10 (the given values are the first candidates)."""
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the training ratings held out to tune on (the usual 80/20)."""
    random_state: int = Field(0, ge=0)
    """Seed of that validation split."""
    tune_users: int = Field(1000, ge=1)
    """At most this many validation users are scored while tuning (bounds memory and time)."""


class HybridParams(BlendParams):
    """Hyperparameters of :class:`Hybrid`: its models, and how they are blended."""

    components: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_COMPONENTS.items()}, min_length=1
    )
    """Name -> ``{"model": class name, "params": {...}}``; each model must rank. A name set to
    None is dropped."""
    fallback: dict[str, Any] = Field(default_factory=lambda: {"model": "Popularity"})
    """The model that fills what the components cannot score and serves cold users."""

    @field_validator("components", mode="before")
    @classmethod
    def _drop_none(cls, components: Any) -> Any:
        """A component set to None (null in YAML) is removed: how a settings layer drops one."""
        if isinstance(components, dict):
            return {k: v for k, v in components.items() if v is not None}
        return components

    @field_validator("components")
    @classmethod
    def _known_models(cls, components: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, spec in components.items():
            check_spec(spec, f"{name}.")
        return components

    @field_validator("fallback")
    @classmethod
    def _known_fallback(cls, spec: dict[str, Any]) -> dict[str, Any]:
        check_spec(spec, "")
        return spec

    @model_validator(mode="after")
    def _weights_name_components(self) -> HybridParams:
        for name, weight in self.weights.items():
            if name not in self.components:
                raise BadKey(f"weights.{name}", weight, "not a component", list(self.components))
        return self


def configured(params: HybridParams) -> dict[str, Any]:
    """The configured setting ``{"weights", "cold_user_ratings", "cold_item_slots"}`` (weights
    missing from ``params.weights`` are 1): what ``tune=False`` uses, tuning's first candidate."""
    return {
        "weights": {c: float(params.weights.get(c, 1.0)) for c in params.components},
        "cold_user_ratings": params.cold_user_ratings,
        "cold_item_slots": params.cold_item_slots,
    }


def choose_settings(
    params: HybridParams, ratings: pl.DataFrame, *, k: int, threshold: float
) -> tuple[dict[str, Any], pl.DataFrame]:
    """Tuned setting and trial table: ``ratings`` (training ratings) are split by
    :func:`validation_split`, the components and the fallback fitted on the inner training part,
    and :func:`recsys_core.ranking.tuning.tune` ranks the held-out part by NDCG@``k``
    (relevant = rating >= ``threshold``, the evaluation settings)."""
    p = params
    split = validation_split(ratings, p.validation_fraction, p.random_state)
    fitted = {name: build(p.components[name]).fit(split.train) for name in sorted(p.components)}
    fallback = build(p.fallback).fit(split.train)
    return tune(
        fitted,
        fallback,
        fallback.data,
        split.test,
        configured(p),
        k=k,
        threshold=threshold,
        cold_item_ratings=p.cold_item_ratings,
        tune_users=p.tune_users,
        random_state=p.random_state,
    )


class Hybrid(Recommender):
    """Blended top-N with popularity backfill and cold-start handling (see module docstring).

    ``recommend`` follows the model contract; :meth:`recommend_explained` adds ``source`` (the
    component name, ``hybrid`` when several scored the item, or ``popularity`` for the
    fallback) and ``explanation`` (up to 3 of the user's rated items behind the row).
    ``predict`` is NaN: the hybrid ranks; use a rating model for estimates.
    """

    Params = HybridParams

    def fit(
        self,
        ratings: pl.DataFrame,
        *,
        rating_scale: tuple[float, float] | None = None,
        k: int = K,
        threshold: float = THRESHOLD,
    ) -> Self:
        """Fit on ``ratings``; with ``tune``, settings are chosen by NDCG@``k`` with relevant =
        rating >= ``threshold`` (pass the run's evaluation settings; the defaults are the
        metrics' defaults)."""
        self._evaluation = (k, threshold)
        return super().fit(ratings, rating_scale=rating_scale)

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        p = self.params
        chosen = configured(p)
        self.tuning_ = pl.DataFrame()
        if p.tune:
            k, threshold = getattr(self, "_evaluation", (K, THRESHOLD))
            chosen, self.tuning_ = choose_settings(p, ratings, k=k, threshold=threshold)
        self.chosen_ = chosen
        self.components_ = {
            name: build(p.components[name]).fit(ratings) for name in sorted(p.components)
        }
        self.fallback_ = build(p.fallback).fit(ratings)
        self._counts(data)

    @classmethod
    def assemble(
        cls,
        fitted: Mapping[str, Recommender],
        fitted_fallback: Recommender,
        chosen: Mapping[str, Any],
        **params: Any,
    ) -> Hybrid:
        """A fitted hybrid from fitted models (all on the same ratings) and chosen settings
        (as :func:`choose_settings` returns), without refitting anything."""
        hybrid = cls(**params)
        data = fitted_fallback.data
        for name, model in fitted.items():
            same = model.data.items.ids.equals(data.items.ids) and model.data.users.ids.equals(
                data.users.ids
            )
            require(same, f"components.{name}", name, "fitted on the same ratings as the fallback")
        hybrid.components_ = {name: fitted[name] for name in sorted(fitted)}
        hybrid.fallback_ = fitted_fallback
        hybrid.chosen_ = {**chosen, "weights": dict(chosen["weights"])}
        hybrid.tuning_ = pl.DataFrame()
        hybrid._data = data
        hybrid._counts(data)
        return hybrid

    def _counts(self, data: RatingData) -> None:
        m = data.user_items
        self.user_counts_ = np.diff(m.indptr)
        self.item_counts_ = np.bincount(m.indices, minlength=data.n_items)

    @property
    def source_names(self) -> list[str]:
        """Names behind the ``source`` codes: components, then ``hybrid``."""
        return [*self.components_, "hybrid"]

    def lists_block(self, users: np.ndarray, n: int, chosen: dict | None = None) -> BlockLists:
        """Top-``n`` of a block of user indices with the chosen (or given) settings."""
        chosen = chosen or self.chosen_
        seen = seen_mask(self.data.user_items, users)
        scored: dict[int, np.ndarray] = {}
        blended = self._blended(users, seen, chosen, lambda c, ok: scored.update({c: ok.copy()}))
        n_components = len(self.components_)

        def source_of(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
            finite = np.zeros((n_components, len(rows)), dtype=bool)
            for c, ok in scored.items():
                finite[c] = ok[rows, items]
            return np.where(finite.sum(0) >= 2, n_components, finite.argmax(0))

        fallback = np.asarray(self.fallback_.score_users(users), dtype=np.float64)
        cold_users = self.user_counts_[users] < chosen["cold_user_ratings"]
        cold_items = self.item_counts_ < self.params.cold_item_ratings
        return rank_block(
            blended, source_of, fallback, seen, cold_users, cold_items, n, chosen["cold_item_slots"]
        )

    def _blended(
        self,
        users: np.ndarray,
        seen: np.ndarray,
        chosen: dict,
        on_scored: Callable[[int, np.ndarray], object] | None = None,
    ) -> np.ndarray:
        """Blended z-scores of a block, one component's scores in memory at a time."""
        weights = [chosen["weights"][name] for name in self.components_]
        zs = (
            zscore_scored(c.score_users(users), seen) if w > 0 else None
            for c, w in zip(self.components_.values(), weights, strict=True)
        )
        return blend_into(zs, weights, seen.shape, on_scored)

    def _topn(self, users: np.ndarray, n: int, block_size: int | None) -> TopN:
        return self._lists(users, n, block_size)[0]

    def _lists(self, idx: np.ndarray, n: int, block_size: int | None) -> tuple[TopN, np.ndarray]:
        data = self.data
        parts = []
        size = block_size or auto_block_size(data.n_items, HYBRID_BUDGET)
        for block in user_blocks(idx, size):
            lists = self.lists_block(block, n)
            parts.append((block[lists.rows], lists.ranks, lists.items, lists.scores, lists.source))
        sources = [p[4] for p in parts]
        src = np.concatenate(sources) if sources else np.empty(0, dtype=np.int64)
        return TopN.concat([p[:4] for p in parts]), src

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Blended z-scores (NaN where no component scores); ranking uses :meth:`lists_block`."""
        return self._blended(users, seen_mask(self.data.user_items, users), self.chosen_)

    def recommend_explained(
        self, n: int = 10, users: pl.Series | list | None = None, block_size: int | None = None
    ) -> pl.DataFrame:
        """``user_id, rank, item_id, score, source, explanation`` (see the class docstring)."""
        top, src = self._lists(self.known_users(users), n, block_size)
        recs = self.to_frame(top)
        names = np.array([*self.source_names, "popularity"])
        recs = recs.with_columns(pl.Series("source", names[np.where(src == FALLBACK, -1, src)]))
        return self._explain(recs)

    def _explain(self, recs: pl.DataFrame) -> pl.DataFrame:
        explainer = next((c for c in self.components_.values() if hasattr(c, "explain")), None)
        item_dtype = recs.schema["item_id"]
        empty = pl.lit([], dtype=pl.List(item_dtype))
        if explainer is None or recs.height == 0:
            return recs.with_columns(empty.alias("explanation"))
        explained = explainer.explain(recs.select("user_id", "rank", "item_id", "score"))
        because = explained.get_column("because").cast(pl.List(item_dtype))
        return recs.with_columns(
            pl.when(pl.col("source") == "popularity")
            .then(empty)
            .otherwise(because)
            .alias("explanation")
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
        comps = self.params.components
        specs = {**{n: comps[n] for n in sorted(comps)}, FALLBACK_KEY: self.params.fallback}
        models = restore_components(specs, arrays, self.data)
        self.fallback_ = models.pop(FALLBACK_KEY)
        self.components_ = models
        self._counts(self.data)


FALLBACK_KEY = "__fallback"
"""Key prefix of the fallback model's arrays in a saved hybrid."""
