"""The night's choice for the hybrid, made on a validation split of the training data only.

:func:`choose_settings` chooses each candidate component's key hyperparameters
(:func:`recsys_core.evaluation.select.select`, warm-started from last night's choice, within a
time budget), then which components to keep, their blend weights and the cold-start settings
(:func:`recsys_core.ranking.tuning.tune`); :func:`fit_kept` fits the kept components with the
chosen parameters, which :meth:`recsys_core.ranking.hybrid.Hybrid.assemble` blends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import Field, field_validator, model_validator
from threadpoolctl import threadpool_limits

from recsys_core.data.ids import RatingData
from recsys_core.evaluation.select import DEFAULT_GRIDS, select
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.base import Recommender
from recsys_core.models.registry import build, check_spec, registered, without_nulls
from recsys_core.params import BadKey, as_dict, build_params, require
from recsys_core.ranking.params import BlendParams
from recsys_core.ranking.tuning import tune, validation_split
from recsys_core.threads import ordered_map

__all__ = [
    "DEFAULT_COMPONENTS",
    "Choice",
    "HybridParams",
    "choose",
    "choose_settings",
    "component_spec",
    "configured",
    "fit_kept",
    "kept",
]

DEFAULT_COMPONENTS = {
    "ease": {"model": "EASE", "params": {}},
    "ials": {"model": "IALS", "params": {}},
}
"""EASE and iALS: on ML-100k's held-out protocol 0.380 / 0.375 NDCG@10 tuned, 0.386 blended
50/50, against 0.366 for the item-KNN + PureSVD + popularity blend they replace."""


class HybridParams(BlendParams):
    """Hyperparameters of :class:`Hybrid`: its models, and how they are blended."""

    components: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_COMPONENTS.items()}, min_length=1
    )
    """Name -> ``{"model": class name, "params": {...}}``; each model must rank. A name set to
    None is dropped. The candidates: tuning keeps those that help."""
    fallback: dict[str, Any] = Field(default_factory=lambda: {"model": "Popularity"})
    """The model that fills what the components cannot score and serves cold users."""

    @field_validator("components", mode="before")
    @classmethod
    def _drop_none(cls, components: Any) -> Any:
        return without_nulls(components)

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
    def _names_are_components(self) -> HybridParams:
        for key, mapping in (("weights", self.weights), ("grids", self.grids)):
            for name, value in mapping.items():
                if name not in self.components:
                    raise BadKey(f"{key}.{name}", value, "not a component", list(self.components))
        if not any(self.weights.get(c, 1.0) > 0 for c in self.components):
            raise BadKey("weights", self.weights, "at least one component needs a weight > 0")
        return self


def component_params(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of a component spec, defaults filled in (JSON-ready)."""
    model = registered(spec["model"])
    return as_dict(build_params(model.Params, spec.get("params", {}), model.__name__))


def configured(params: HybridParams) -> dict[str, Any]:
    """The configured setting ``{"components", "weights", "cold_user_ratings",
    "cold_item_slots"}`` (weights missing from ``params.weights`` are 1; ``components`` holds the
    full parameters of those with a weight > 0): what ``tune=False`` uses."""
    weights = {c: float(params.weights.get(c, 1.0)) for c in sorted(params.components)}
    return {
        "components": {
            c: component_params(params.components[c]) for c, w in weights.items() if w > 0
        },
        "weights": weights,
        "cold_user_ratings": params.cold_user_ratings,
        "cold_item_slots": params.cold_item_slots,
    }


def kept(chosen: Mapping[str, Any]) -> list[str]:
    """The components a setting uses: those with a weight > 0, in name order."""
    return sorted(name for name, w in chosen["weights"].items() if w > 0)


def component_spec(params: HybridParams, chosen: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Component ``name``'s spec with the chosen parameters (the configured ones if none)."""
    spec = params.components[name]
    given = chosen.get("components", {})
    return {"model": spec["model"], "params": given.get(name, spec.get("params", {}))}


def fit_kept(
    params: HybridParams,
    chosen: Mapping[str, Any],
    ratings: pl.DataFrame,
    start: Mapping[str, Recommender] | None = None,
) -> dict[str, Recommender]:
    """The kept components of ``chosen`` fitted on ``ratings`` with the chosen parameters: what
    :meth:`Hybrid.assemble` takes (with the fallback fitted on the same ratings). ``start``:
    earlier fits of the same components (on the training split) that a model able to warm-start
    (``fit_from``: iALS) starts from."""
    data = RatingData.from_frame(ratings)  # one id mapping and CSR for every component
    fitted = {}
    for name in kept(chosen):
        model = build(component_spec(params, chosen, name))
        earlier = (start or {}).get(name)
        if earlier is not None and hasattr(model, "fit_from"):
            fitted[name] = model.fit_from(data, ratings, earlier)
        else:
            fitted[name] = model.fit_on(data, ratings)
    return fitted


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` returns: the choice and its trials (as :func:`choose_settings`), and
    the models it fitted to make them: the kept ``components`` with the chosen parameters and
    the ``fallback``, all on the validation split's training part (a fit on more ratings of
    the same users and items can start from them: :meth:`recsys_core.models.ials.IALS.fit_from`)."""

    chosen: dict[str, Any]
    trials: pl.DataFrame
    components: dict[str, Recommender]
    fallback: Recommender


def choose_settings(
    params: HybridParams,
    ratings: pl.DataFrame,
    *,
    k: int,
    threshold: float,
    budget_seconds: float | None = None,
    warm_start: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """``(chosen, trials)`` of :func:`choose` (the fitted models dropped)."""
    made = choose(params, ratings, k=k, threshold=threshold, budget_seconds=budget_seconds,
                  warm_start=warm_start, clock=clock)  # fmt: skip
    return made.chosen, made.trials


def choose(
    params: HybridParams,
    ratings: pl.DataFrame,
    *,
    k: int,
    threshold: float,
    budget_seconds: float | None = None,
    warm_start: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Choice:
    """The night's setting and its trials, chosen on ``ratings`` (the TRAINING ratings) only.

    ``ratings`` are split by :func:`validation_split` and prepared once (a
    :class:`~recsys_core.evaluation.validation.ValidationSet` of at most ``params.tune_users``
    validation users, shared by every fit and score). Each component gets its key
    hyperparameters from :func:`~recsys_core.evaluation.select.select` on that split by
    NDCG@``k`` (relevant = rating >= ``threshold``: the evaluation settings), warm-started from
    ``warm_start["components"][name]`` (last night's ``chosen``) within an even share of
    ``budget_seconds`` (default ``params.budget_seconds``); the selected model stays fitted.
    The components are selected at the same time, one thread each (up to the number of CPUs):
    their fits release the GIL (LAPACK, ``implicit``), so EASE's one-thread inversions and
    iALS's solver share the cores; each selection depends only on its own candidates, so the
    choice is the same in any order. Then :func:`~recsys_core.ranking.tuning.tune` chooses the
    kept components, their weights and the cold-start settings (starting from last night's).

    Returns a :class:`Choice`: ``chosen`` (JSON-ready: ``{"components": {name: full parameters
    of each kept component}, "weights": {name: weight, 0 = left out}, "cold_user_ratings",
    "cold_item_slots"}``), the fitted models, and one trials table: the selection's rows
    (``component``, ``params``, ``stage`` start/grid/edge, ``ndcg``, ``precision``, ``seconds``)
    then the blend search's (``stage``, ``w_<name>``, cold-start settings, ``ndcg``).
    """
    p, warm = params, dict(warm_start or {})
    budget = p.budget_seconds if budget_seconds is None else budget_seconds
    require(budget > 0, "budget_seconds", budget, "> 0")
    split = validation_split(ratings, p.validation_fraction, p.random_state)
    valid = ValidationSet.build(split.train, split.test, threshold=threshold,
                                max_users=p.tune_users, random_state=p.random_state)  # fmt: skip
    names = sorted(p.components)
    share = budget / len(names)

    def one(name: str) -> tuple[Recommender, pl.DataFrame | None]:
        spec = p.components[name]
        model = registered(spec["model"])
        grid = p.grids.get(name, DEFAULT_GRIDS.get(model.__name__, {}))
        if not grid:
            return build(spec).fit_on(valid.data, valid.train), None
        last = warm.get("components", {}).get(name)
        start = _grid_values(last, grid) if last else None
        chosen = select(model, spec.get("params", {}), grid, valid, k=k, budget_seconds=share,
                        warm_start=start, clock=clock)  # fmt: skip
        return chosen.model, chosen.trials.with_columns(pl.lit(name).alias("component"))

    # one BLAS thread around the threads: each model's own limit then restores 1, not whatever
    # the environment set while the other thread still computes
    # (also for a single component, which runs without a pool)
    with threadpool_limits(limits=1, user_api="blas"):
        done = dict(zip(names, ordered_map(one, names), strict=True))  # name order
    fitted = {name: model for name, (model, _) in done.items()}
    tables = [table for _, table in done.values() if table is not None]
    fallback = build(p.fallback).fit_on(valid.data, valid.train)
    seeds = range(p.random_state + 1, p.random_state + p.validation_splits)
    more = [refit_on_split(p, fitted, ratings, seed, threshold) for seed in seeds]
    first = {
        key: warm.get(key, getattr(p, key)) for key in ("cold_user_ratings", "cold_item_slots")
    }
    best, table = tune(fitted, fallback, valid, first, k=k, cold_item_ratings=p.cold_item_ratings,
                       more=more)  # fmt: skip
    best["components"] = {name: as_dict(fitted[name].params) for name in kept(best)}
    trials = pl.concat([*tables, table], how="diagonal_relaxed")
    chosen = {"components": best.pop("components"), **best}
    return Choice(chosen, trials, {name: fitted[name] for name in kept(chosen)}, fallback)


def refit_on_split(
    params: HybridParams,
    fitted: Mapping[str, Recommender],
    ratings: pl.DataFrame,
    seed: int,
    threshold: float,
) -> tuple[dict[str, Recommender], Recommender, ValidationSet]:
    """Every component of ``fitted`` with its parameters, and the fallback, fitted from scratch
    on the training part of validation split ``seed`` of ``ratings``, with that split's
    validation set (``tune``'s ``more``). Not warm-started from ``fitted``: those were
    trained on most of this split's validation ratings."""
    split = validation_split(ratings, params.validation_fraction, seed)
    valid = ValidationSet.build(split.train, split.test, threshold=threshold,
                                max_users=params.tune_users, random_state=seed)  # fmt: skip
    names = sorted(fitted)

    def one(name: str) -> Recommender:
        spec = {"model": params.components[name]["model"], "params": as_dict(fitted[name].params)}
        return build(spec).fit_on(valid.data, valid.train)

    with threadpool_limits(limits=1, user_api="blas"):
        models = dict(zip(names, ordered_map(one, names), strict=True))
    return models, build(params.fallback).fit_on(valid.data, valid.train), valid


def _grid_values(params: Mapping[str, Any], grid: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``params`` at the grid's keys (nested like the grid): a warm start."""
    out = {}
    for key, value in grid.items():
        if key in params:
            is_nested = isinstance(value, Mapping) and isinstance(params[key], Mapping)
            out[key] = _grid_values(params[key], value) if is_nested else params[key]
    return out
