"""Layered run settings: built-in defaults < project file < per-run overrides.

Each section is a :class:`recsys_core.params.Params` model; a model's section IS its
hyperparameter model (``models.item_knn`` is :class:`KNNParams`, ``hybrid`` is
:class:`BlendParams`), so there is one source of truth. Each layer is a plain mapping with the
shape of :class:`Settings`. Rules:

- later layers win key by key; nested sections (and mapping-valued keys such as a model's
  ``sim_options``) merge key by key instead of replacing the whole section;
- one exception: a list-valued or grid-valued key (``tuning.grid``) is replaced whole, so a
  layer can narrow it;
- no layer is ever mutated, and the merged result shares no mutable object with any layer;
- every layer is checked on its own (on top of the defaults) before merging, so an unknown key,
  a wrong type or a bad value is a :class:`ConfigError` that names the key path, the layer it
  came from and, for unknown keys, the closest valid key;
- the merged settings are then fitted to the kind of feedback (:func:`for_feedback`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from recsys_core.data.interactions import IMPLICIT_THRESHOLD
from recsys_core.errors import ConfigError
from recsys_core.models.ease import EASE, EASEParams
from recsys_core.models.ials import IALS, IALSParams
from recsys_core.models.knn import KNNWithMeans
from recsys_core.models.knn.options import KNNParams
from recsys_core.models.mf import PureSVD
from recsys_core.models.mf.pure_svd import PureSVDParams
from recsys_core.models.mf.svd import SVDParams
from recsys_core.models.popularity import Popularity, PopularityParams
from recsys_core.models.rating_blend import RatingBlendParams
from recsys_core.params import (
    WHOLE,
    BadKey,
    Params,
    as_dict,
    closest,
    describe,
    plain,
)
from recsys_core.ranking.params import BlendParams
from recsys_core.sections import (
    AutomationSettings,
    EvaluationSettings,
    ExecutionSettings,
    IngestSettings,
    PublishSettings,
    SimilarSettings,
    SplitSettings,
    TopNSettings,
)

__all__ = [
    "DEFAULT_GRID",
    "HYBRID_COMPONENTS",
    "TUNED_BY",
    "AutomationSettings",
    "EvaluationSettings",
    "ExecutionSettings",
    "HybridSettings",
    "IngestSettings",
    "Layer",
    "ModelsSettings",
    "PublishSettings",
    "Settings",
    "SimilarSettings",
    "SplitSettings",
    "TopNSettings",
    "TuningSettings",
    "for_feedback",
    "hybrid_params",
    "merge",
    "resolve",
]


class ModelsSettings(Params):
    """Hyperparameters of each model: each section is the model's own parameter model."""

    popularity: PopularityParams = Field(default_factory=PopularityParams)
    """:class:`recsys_core.Popularity`: the baseline and the hybrid's fallback (a candidate
    component too)."""
    ease: EASEParams = Field(default_factory=EASEParams)
    """:class:`recsys_core.EASE`: a hybrid component (default); ``reg`` is re-chosen nightly
    from these values by the hybrid's selection."""
    ials: IALSParams = Field(default_factory=IALSParams)
    """:class:`recsys_core.IALS`: a hybrid component (default); ``reg`` is re-chosen nightly
    from these values by the hybrid's selection."""
    item_knn: KNNParams = Field(default_factory=KNNParams)
    """:class:`recsys_core.KNNWithMeans`: a candidate hybrid component."""
    biased_mf: SVDParams = Field(default_factory=SVDParams)
    """:class:`recsys_core.SVD`: biased matrix factorisation, for rating predictions."""
    pure_svd: PureSVDParams = Field(default_factory=PureSVDParams)
    """:class:`recsys_core.PureSVD`: a candidate hybrid component."""
    rating_blend: RatingBlendParams = Field(default_factory=RatingBlendParams)
    """:class:`recsys_core.models.rating_blend.RatingBlend`: the stacked rating predictor."""


TUNED_BY = {"item_knn": "ndcg", "biased_mf": "rmse"}
"""The models the tuning job tunes, each by the metric its job is judged on."""

DEFAULT_GRID = {
    "item_knn": {"k": [20, 40], "sim_options": {"name": ["msd", "cosine"]}},
    "biased_mf": {"n_factors": [40, 60], "reg_all": [0.08, 0.11]},
}
"""Each grid holds the model's default (item_knn ``k`` 40 with ``msd``; biased_mf 40 factors,
``reg_all`` 0.11, chosen by cross-validation in ``benchmarks/rating_cv.py``), so a tuning run
can only replace it by a candidate that scored better."""


class TuningSettings(Params):
    """The tuning job (Surprise's GridSearchCV): k-fold CV on the training split; item_knn is
    chosen by NDCG@k, biased_mf by RMSE (``TUNED_BY``)."""

    grid: Annotated[dict[str, dict[str, Any]], WHOLE] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_GRID)
    )
    """``models`` section -> parameter -> candidate list (nested for ``sim_options``). A layer
    replaces the whole grid, so a project can narrow it."""
    n_splits: int = Field(3, ge=2)
    """Folds of the cross-validation (3: each candidate is fitted 3 times)."""
    random_state: int = Field(0, ge=0)
    """Seed of the folds."""
    apply: bool = False
    """The nightly models use the best parameters found (a settings layer above the project
    file); off by default so that a tuning run changes nothing until asked."""

    @field_validator("grid")
    @classmethod
    def _grid_names_parameters(cls, grid: dict[str, dict[str, Any]]) -> dict[str, Any]:
        for section, params in grid.items():
            if section not in TUNED_BY:
                raise BadKey(section, params, "not tuned", list(TUNED_BY))
            _check_grid(params, ModelsSettings.model_fields[section].annotation, section)
        return grid


def _check_grid(grid: Mapping[str, Any], model: Any, path: str) -> None:
    """Every key of ``grid`` is a parameter of ``model``, every leaf a non-empty list."""
    fields = getattr(model, "model_fields", {})
    for key, value in grid.items():
        if key not in fields:
            raise BadKey(f"{path}.{key}", value, "unknown parameter", list(fields))
        if isinstance(value, Mapping):
            _check_grid(value, fields[key].annotation, f"{path}.{key}")
        elif not isinstance(value, list) or not value:
            raise BadKey(f"{path}.{key}", value, "expected a non-empty list of candidates")


class HybridSettings(BlendParams):
    """The published hybrid: which ``models`` sections are its candidate components, and how
    they are blended (see :func:`hybrid_params`)."""

    components: list[str] = Field(default_factory=lambda: ["ease", "ials"], min_length=1)
    """Names of the candidate components, each a key of ``HYBRID_COMPONENTS`` (its ``models``
    section holds its parameters); a layer replaces the list whole. EASE and iALS: 0.380 and
    0.375 NDCG@10 alone, 0.386 blended, on ML-100k's held-out protocol, against 0.366 for the
    item-KNN + PureSVD + popularity blend. Tuning keeps only those that help on validation."""

    @field_validator("components")
    @classmethod
    def _known_components(cls, names: list[str]) -> list[str]:
        for pos, name in enumerate(names):
            if name not in HYBRID_COMPONENTS:
                hint = closest(name, list(HYBRID_COMPONENTS))
                message = f"did you mean {hint!r}? " if hint else ""
                known = ", ".join(HYBRID_COMPONENTS)
                raise BadKey(str(pos), name, f"unknown component; {message}known: {known}")
        if len(set(names)) != len(names):
            raise ValueError(f"a component is named twice: {names}")
        return names

    @model_validator(mode="after")
    def _weights_name_components(self) -> HybridSettings:
        for key, mapping in (("weights", self.weights), ("grids", self.grids)):
            for name, value in mapping.items():
                if name not in self.components:
                    raise BadKey(f"{key}.{name}", value, "not a component", self.components)
        return self


class Settings(Params):
    """The effective settings of a run."""

    ingest: IngestSettings = Field(default_factory=IngestSettings)
    """Reading the raw rating files."""
    split: SplitSettings = Field(default_factory=SplitSettings)
    """The evaluation hold-out."""
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    """Each model's hyperparameters."""
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    """The metrics."""
    topn: TopNSettings = Field(default_factory=TopNSettings)
    """The published lists."""
    similar: SimilarSettings = Field(default_factory=SimilarSettings)
    """The similar-items table published beside the lists."""
    hybrid: HybridSettings = Field(default_factory=HybridSettings)
    """The published hybrid: a blend of the ``models`` sections named in ``components`` with
    popularity backfill (see :func:`hybrid_params`)."""
    publish: PublishSettings = Field(default_factory=PublishSettings)
    """The quality gate before publishing."""
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    """The tuning job."""
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    """Schedule and sensor (read when the code location loads)."""
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    """Executor and top-N buckets (read when the code location loads)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-ready) of every setting."""
        return as_dict(self)


HYBRID_COMPONENTS: dict[str, type] = {
    "ease": EASE,
    "ials": IALS,
    "item_knn": KNNWithMeans,
    "pure_svd": PureSVD,
    "popularity": Popularity,
}
"""The hybrid's possible components: name (= its ``models`` section) -> model class;
``hybrid.components`` chooses among them. Popularity is always the fallback as well."""

RENAMED = {"models.svd": "models.biased_mf", "tuning.grid.svd": "tuning.grid.biased_mf"}
"""Keys that changed name, so an old file gets a pointed message."""

Layer = tuple[str, Mapping[str, Any]]


def merge(
    base: Mapping[str, Any], override: Mapping[str, Any], whole: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """New mapping: ``override`` wins key by key, nested mappings merge recursively, except at
    the dotted paths in ``whole``, which ``override`` replaces.

    Neither argument is modified and the result shares no mutable value with them.
    """
    return _merge(base, override, whole, "")


def _merge(
    base: Mapping[str, Any], override: Mapping[str, Any], whole: frozenset[str], path: str
) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        at = f"{path}{key}"
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and at not in whole:
            out[key] = _merge(out[key], value, whole, f"{at}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def replaced_whole(model: type[BaseModel], path: str = "") -> frozenset[str]:
    """Dotted paths of the fields of ``model`` (and its nested models) marked ``WHOLE``."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        if any(m is WHOLE for m in info.metadata):
            found.add(path + name)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            found |= replaced_whole(info.annotation, f"{path}{name}.")
    return frozenset(found)


def resolve(layers: Sequence[Layer]) -> Settings:
    """Effective :class:`Settings` of ``layers`` (lowest first) on top of the defaults."""
    whole = replaced_whole(Settings)
    defaults = Settings().to_dict()
    merged = defaults
    for name, layer in layers:
        if not isinstance(layer, Mapping):
            raise ConfigError(f"{name}: expected a mapping of sections, got {type(layer).__name__}")
        _renamed(layer, name)
        validate(merge(defaults, layer, whole), name)
        merged = merge(merged, layer, whole)
    return for_feedback(validate(merged, "the merged settings"))


SIGNAL_MODELS = ("ease", "ials")
"""The models whose ``signal`` follows the kind of feedback."""


def for_feedback(settings: Settings) -> Settings:
    """The settings a run on this kind of feedback uses: unchanged for explicit ratings. For
    implicit feedback (``ingest.feedback``), every held-out interaction is relevant
    (``evaluation.threshold`` = 0: each implicit rating is >= 1) and EASE's and iALS's
    ``signal`` reads the ratings as interactions: ``binary``, or ``confidence`` when
    ``ingest.signal`` is ``log_count`` (their ``graded`` signal compares a rating with a star
    threshold, which interactions do not have). The changed values show in the run's settings."""
    if settings.ingest.feedback == "explicit":
        return settings
    values = settings.to_dict()
    values["evaluation"]["threshold"] = IMPLICIT_THRESHOLD
    signal = "binary" if settings.ingest.signal == "binary" else "confidence"
    for name in SIGNAL_MODELS:
        values["models"][name]["signal"] = signal
    return validate(values, "the settings for implicit feedback")


def validate(values: Mapping[str, Any], where: str) -> Settings:
    """:class:`Settings` from nested ``values``; a :class:`ConfigError` names ``where``."""
    try:
        return Settings.model_validate(plain(dict(values)))
    except ValidationError as exc:
        raise ConfigError(describe(exc, Settings, where)) from None


def _renamed(layer: Mapping[str, Any], where: str) -> None:
    for old, new in RENAMED.items():
        node: Any = layer
        for part in old.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            raise ConfigError(f"key {old!r} in {where} is now {new!r}: rename it")


def hybrid_params(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of :class:`recsys_core.Hybrid` from the settings: the ``hybrid``
    section, with the components named in ``hybrid.components`` and the fallback (popularity)
    from their ``models`` sections."""
    m = settings.models

    def spec(name: str) -> dict[str, Any]:
        return {"model": HYBRID_COMPONENTS[name].__name__, "params": as_dict(getattr(m, name))}

    hybrid = as_dict(settings.hybrid)
    components = {name: spec(name) for name in hybrid.pop("components")}
    return {**hybrid, "components": components, "fallback": spec("popularity")}
