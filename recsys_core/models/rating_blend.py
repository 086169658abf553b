"""``RatingBlend``: a stacked rating predictor over component rating models.

Feature-weighted linear stacking: with meta-features ``f(u, i) = (1, log(1 + n_u),
log(1 + n_i))`` (training counts of the user and item) and component estimates ``r_c(u, i)``,

    r_hat(u, i) = clip( sum_j a_j f_j(u, i) + sum_c sum_j w_cj f_j(u, i) r_c(u, i) )

so each component's weight can depend on how much is known about the user and the item. The
coefficients (components in name order) are a ridge fit (``ridge``) on a validation split
of the training ratings, with the components fitted on the rest; the components are then
refitted on all training ratings (a KNN component whose spec has ``"keep_similarities":
True`` only refits what is cheap, keeping the similarities of its validation fit; see
:meth:`recsys_core.models.knn.KNNBase.with_ratings`).

The default components (``DEFAULT_RATING_COMPONENTS``) were chosen by 5-fold cross-validation
on training data only (``benchmarks/rating_cv.py``: the train part of the held-out protocol's
ML-100k split and a synthetic set of ML-1M's density), by the RMSE above each data set's best,
averaged: of the configurations within 0.001 of the best average, the cheapest to fit and
predict, CPU times within 10 % counting as equal and the lower RMSE then winning. They are SVD
with 20 factors (``reg_all`` 0.12 pinned: the blend's SVD does worse with 0.10), item
KNNBaseline (pearson_baseline, ``max_neighbors`` 100), user KNNBaseline (msd, 100) and
KNNWithMeans (msd, 40), and BaselineOnly. Pruning (``max_neighbors``) makes the blend better
on ML-100k (the pruned components err less alike) and cheaper: a prediction walks at most
``max_neighbors + 1`` similarities. ``keep_similarities`` on the user-based and the
KNNWithMeans components costs 0.0003 RMSE and saves 17-22 % of the time. The numbers are in
``docs/benchmarks.md`` ("models/rating_blend").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from recsys_core.data.ids import RatingData
from recsys_core.data.split import random_split
from recsys_core.models.base import Recommender
from recsys_core.models.components import components_state, restore_components
from recsys_core.models.knn import KNNBase
from recsys_core.models.registry import build, check_spec, without_nulls
from recsys_core.params import BadKey, Params
from recsys_core.ranking.blend import blend, zscore_rows
from recsys_core.ranking.candidates import seen_mask
from recsys_core.threads import ordered_map

T = TypeVar("T")

DEFAULT_RATING_COMPONENTS = {
    "svd": {"model": "SVD", "params": {"n_factors": 20, "reg_all": 0.12}},
    "knn_items": {
        "model": "KNNBaseline",
        "params": {"sim_options": {"name": "pearson_baseline"}, "max_neighbors": 100},
    },
    "knn_users": {
        "model": "KNNBaseline",
        "params": {"sim_options": {"name": "msd", "user_based": True}, "max_neighbors": 100},
        "keep_similarities": True,
    },
    "knn_means": {
        "model": "KNNWithMeans",
        "params": {"sim_options": {"name": "msd"}, "max_neighbors": 40},
        "keep_similarities": True,
    },
    "baseline": {"model": "BaselineOnly", "params": {}},
}
"""The default components; chosen as the module docstring shows."""

SPEC_KEYS = {"model", "params", "keep_similarities"}
"""Keys of a component spec."""


class RatingBlendParams(Params):
    """Hyperparameters of :class:`RatingBlend` (see the module docstring)."""

    components: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_RATING_COMPONENTS.items()},
        min_length=1,
    )
    """Name -> ``{"model": class name, "params": {...}}`` of a rating model; a name set to None
    is dropped (how a settings layer removes a default component). A KNN component may add
    ``"keep_similarities": True``: when refitted on all training ratings it keeps the
    similarities of its validation fit (:meth:`KNNBase.with_ratings`: only means, baselines
    and neighbour ratings are recomputed) instead of being fitted anew; cheaper, slightly
    worse. The defaults are chosen in the module docstring."""
    ridge: float = Field(1.0, ge=0)
    """Ridge penalty ``alpha`` of the stacking coefficients, minimising
    ``||X a - r||^2 + alpha ||a||^2`` (1: a light pull toward 0 for the 3 x (components + 1)
    coefficients)."""
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the training ratings on which the coefficients are fitted (the components are
    fitted on the rest first)."""
    random_state: int = Field(0, ge=0)
    """Seed of that split."""

    @field_validator("components", mode="before")
    @classmethod
    def _drop_none(cls, components: Any) -> Any:
        return without_nulls(components)

    @field_validator("components")
    @classmethod
    def _known_models(cls, components: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, spec in components.items():
            model = check_spec(spec, f"{name}.", tuple(sorted(SPEC_KEYS)))
            keep = spec.get("keep_similarities", False)
            if not (keep is False or (keep is True and issubclass(model, KNNBase))):
                where = f"{name}.keep_similarities"
                raise BadKey(where, keep, "expected true (KNN models only) or false")
        return components


class RatingBlend(Recommender):
    """Stacked rating predictions; ranks by the equal-weight blend of the components' z-scored
    ranking scores."""

    Params = RatingBlendParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        p = self.params
        split = random_split(ratings, p.validation_fraction, p.random_state)
        names = sorted(p.components)
        inner = _each(names, lambda name: build(p.components[name]).fit(split.train))
        probe = RatingData.from_frame(split.train, data.rating_scale)
        features = self._features(probe, inner, split.test)
        target = split.test.get_column("rating").to_numpy()
        gram = features.T @ features + p.ridge * np.eye(features.shape[1])
        self.coef_ = np.linalg.solve(gram, features.T @ target)
        self.components_ = _each(names, lambda name: self._refit(name, inner[name], ratings))

    def _refit(self, name: str, inner: Recommender, ratings: pl.DataFrame) -> Recommender:
        """The component fitted on all ``ratings`` (with ``keep_similarities``: the validation
        fit's similarities, see :meth:`KNNBase.with_ratings`)."""
        if self.params.components[name].get("keep_similarities", False):
            return inner.with_ratings(ratings)
        return build(self.params.components[name]).fit(ratings)

    def _features(self, data: RatingData, models: Mapping[str, Recommender], pairs) -> np.ndarray:
        u, i = data.index_pairs(pairs)
        n_u = np.where(u >= 0, np.diff(data.user_items.indptr)[np.maximum(u, 0)], 0)
        item_counts = np.bincount(data.user_items.indices, minlength=data.n_items)
        n_i = np.where(i >= 0, item_counts[np.maximum(i, 0)], 0)
        meta = np.column_stack([np.ones(len(u)), np.log1p(n_u), np.log1p(n_i)])
        estimates = _each(list(models), lambda name: models[name].predict(pairs))
        preds = [estimates[name][:, None] * meta for name in models]
        return np.column_stack([meta, *preds])

    def predict(self, pairs: pl.DataFrame) -> np.ndarray:
        lo, hi = self.data.rating_scale
        est = self._features(self.data, self.components_, pairs) @ self.coef_
        return np.clip(est, lo, hi)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        seen = seen_mask(self.data.user_items, users)
        zs = [zscore_rows(m.score_users(users), seen) for m in self.components_.values()]
        return blend(zs, [1.0] * len(zs))[0]

    def _state(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, **components_state(self.components_)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.coef_ = arrays["coef"]
        comps = self.params.components
        self.components_ = restore_components(
            {n: comps[n] for n in sorted(comps)}, arrays, self.data
        )


def _each(names: list[str], work: Callable[[str], T]) -> dict[str, T]:
    """``{name: work(name)}`` in ``names`` order, the components at the same time
    (:func:`recsys_core.threads.ordered_map`: the results a loop gives; 1M night: the five fits
    1.9 s -> 1.2 s on two cores)."""
    return dict(zip(names, ordered_map(work, names), strict=True))
