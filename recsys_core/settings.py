"""Layered run settings: built-in defaults < project file < per-run overrides.

Each layer is a plain mapping with the shape of :class:`Settings` (sections of keys). Rules:

- later layers win key by key; nested sections (and mapping-valued keys such as a model's
  ``sim_options``) merge key by key instead of replacing the whole section;
- no layer is ever mutated, and the merged result shares no mutable object with any layer;
- every layer is checked on its own (on top of the defaults) before merging, so an unknown key,
  a wrong type or a bad value is a :class:`ConfigError` that names the key path, the layer it
  came from and, for unknown keys, the closest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from recsys_core.errors import ConfigError
from recsys_core.models.knn.options import KNNParams
from recsys_core.models.mf.pure_svd import PureSVDParams
from recsys_core.models.mf.svd import SVDParams
from recsys_core.models.popularity import PopularityParams
from recsys_core.models.rating_blend import RatingBlendParams
from recsys_core.params import as_dict, closest, require


@dataclass(frozen=True, kw_only=True)
class IngestSettings:
    """Reading raw files (Surprise's reader vocabulary) and the bad-row tolerance."""

    line_format: str | None = None
    sep: str | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    skip_lines: int = 0
    max_bad_fraction: float = 0.05

    def __post_init__(self) -> None:
        require(
            0 <= self.max_bad_fraction <= 1, "max_bad_fraction", self.max_bad_fraction, "in [0, 1]"
        )


@dataclass(frozen=True, kw_only=True)
class SplitSettings:
    """The evaluation hold-out: seeded random split of the ratings."""

    test_fraction: float = 0.2
    random_state: int = 42

    def __post_init__(self) -> None:
        require(0 < self.test_fraction < 1, "test_fraction", self.test_fraction, "in (0, 1)")


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    """Ranking metrics at ``k``; relevant = test rating >= ``threshold``."""

    k: int = 10
    threshold: float = 4.0

    def __post_init__(self) -> None:
        require(self.k >= 1, "k", self.k, ">= 1")


@dataclass(frozen=True, kw_only=True)
class TopNSettings:
    """The published lists: ``n`` items per user, computed for ``block_size`` users at a time
    (None: sized to hold about 4M scores; only speed and memory change)."""

    n: int = 10
    block_size: int | None = None

    def __post_init__(self) -> None:
        require(self.n >= 1, "n", self.n, ">= 1")
        require(
            self.block_size is None or self.block_size >= 1, "block_size", self.block_size, ">= 1"
        )


@dataclass(frozen=True, kw_only=True)
class AutomationSettings:
    """When runs start: the nightly schedule and the new-raw-file sensor (read at load time)."""

    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    sensor_interval_seconds: int = 60
    settle_seconds: float = 30.0

    def __post_init__(self) -> None:
        require(len(self.cron.split()) == 5, "cron", self.cron, "a 5-field cron expression")
        require(
            self.sensor_interval_seconds >= 1,
            "sensor_interval_seconds",
            self.sensor_interval_seconds,
            ">= 1",
        )
        require(self.settle_seconds >= 0, "settle_seconds", self.settle_seconds, ">= 0")


EXECUTORS = ("in_process", "multiprocess", "k8s")


@dataclass(frozen=True, kw_only=True)
class ExecutionSettings:
    """How a run's steps execute (read when the code location loads, like ``automation``).

    ``executor``: ``in_process`` runs every step in the run's process (least overhead: the
    right choice on one small machine); ``multiprocess`` runs independent steps (the models,
    the per-model evaluations, the top-N buckets) in parallel child processes, at most
    ``max_concurrent`` at once (0: one per CPU); ``k8s`` runs each step as a Kubernetes job
    (needs the dagster-k8s package, a cluster and an object-store data root). ``buckets``: the
    users are split by a stable hash of their id into this many buckets, each ranked in its own
    step; the combined table is the same for any number of buckets.
    """

    executor: Literal["in_process", "multiprocess", "k8s"] = "in_process"
    max_concurrent: int = 0
    buckets: int = 1

    def __post_init__(self) -> None:
        require(self.executor in EXECUTORS, "executor", self.executor, f"one of {EXECUTORS}")
        require(self.max_concurrent >= 0, "max_concurrent", self.max_concurrent, ">= 0")
        require(1 <= self.buckets <= 256, "buckets", self.buckets, "in [1, 256]")


@dataclass(frozen=True, kw_only=True)
class ModelsSettings:
    """Hyperparameters of each model, keyed as the models' own keyword arguments."""

    popularity: PopularityParams = field(default_factory=PopularityParams)
    item_knn: KNNParams = field(default_factory=KNNParams)
    svd: SVDParams = field(default_factory=SVDParams)
    pure_svd: PureSVDParams = field(default_factory=PureSVDParams)
    rating_blend: RatingBlendParams = field(default_factory=RatingBlendParams)


@dataclass(frozen=True, kw_only=True)
class HybridSettings:
    """The published blend of ``models.item_knn`` and ``models.pure_svd`` with popularity
    backfill (see :class:`recsys_core.ranking.hybrid.HybridParams`)."""

    weights: dict[str, float] = field(default_factory=dict)
    cold_user_ratings: int = 5
    cold_item_ratings: int = 5
    cold_item_slots: int = 1
    tune: bool = True
    validation_fraction: float = 0.2
    random_state: int = 0
    tune_users: int = 1000


DEFAULT_GRID = {
    "item_knn": {"k": [20, 40], "sim_options": {"name": ["msd", "cosine"]}},
    "svd": {"n_factors": [30, 50], "reg_all": [0.08, 0.12]},
}


@dataclass(frozen=True, kw_only=True)
class TuningSettings:
    """The tuning job (Surprise's GridSearchCV): ``grid`` per model section, k-fold CV on the
    training split; item_knn is chosen by NDCG@k, svd by RMSE. With ``apply``, the nightly
    models use the best parameters found (a settings layer above the project file)."""

    grid: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_GRID))
    n_splits: int = 3
    random_state: int = 0
    apply: bool = False

    def __post_init__(self) -> None:
        require(self.n_splits >= 2, "n_splits", self.n_splits, ">= 2")
        unknown = set(self.grid) - set(TUNED_BY)
        require(not unknown, "grid", sorted(unknown), f"sections among {sorted(TUNED_BY)}")


TUNED_BY = {"item_knn": "ndcg", "svd": "rmse"}


@dataclass(frozen=True, kw_only=True)
class PublishSettings:
    """The quality gate before the live table changes: the hybrid's NDCG@k on the test split
    must be at least ``min_ndcg`` and at most ``max_ndcg_drop`` below the live run's."""

    min_ndcg: float = 0.05
    max_ndcg_drop: float = 0.05


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The effective settings of a run."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    topn: TopNSettings = field(default_factory=TopNSettings)
    hybrid: HybridSettings = field(default_factory=HybridSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    tuning: TuningSettings = field(default_factory=TuningSettings)
    automation: AutomationSettings = field(default_factory=AutomationSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-ready) of every setting."""
        return as_dict(self)


Layer = tuple[str, Mapping[str, Any]]


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """New mapping: ``override`` wins key by key, nested mappings merge recursively.

    Neither argument is modified and the result shares no mutable value with them.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(layers: Sequence[Layer]) -> Settings:
    """Effective :class:`Settings` of ``layers`` (lowest first) on top of the defaults."""
    defaults = Settings().to_dict()
    merged = defaults
    for name, layer in layers:
        if not isinstance(layer, Mapping):
            raise ConfigError(f"{name}: expected a mapping of sections, got {type(layer).__name__}")
        build(Settings, merge(defaults, layer), name, check=layer)
        merged = merge(merged, layer)
    return build(Settings, merged, "the merged settings")


def build(
    cls: type, values: Mapping[str, Any], layer: str, check: Any = None, path: str = ""
) -> Any:
    """Instantiate dataclass ``cls`` from nested ``values``; ``check`` (the layer's own values)
    decides which keys are type-checked, so errors point at the layer that set them."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    check = check if isinstance(check, Mapping) else {}
    for key in values:
        if key not in names:
            hint = closest(str(key), names)
            suggestion = f"; did you mean {path + hint!r}?" if hint else f"; valid: {names}"
            raise ConfigError(f"unknown key {path + str(key)!r} in {layer}{suggestion}")
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{path + key!r} in {layer} must be a section (mapping), got {value!r}"
                )
            kwargs[key] = build(hint, value, layer, check.get(key), f"{path}{key}.")
            continue
        if key in check and not _is_instance(value, hint):
            raise ConfigError(
                f"{path + key!r} in {layer} must be {_type_name(hint)}, got {value!r}"
            )
        kwargs[key] = tuple(value) if _origin(hint) is tuple and value is not None else value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{path.rstrip('.') or 'settings'} in {layer}: {exc}") from exc


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint)


def _is_instance(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from YAML/JSON) fits the annotation ``hint``."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, a) for a in args)
    if origin is Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        return (
            isinstance(value, list | tuple)
            and len(value) == len(args)
            and all(_is_instance(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, Mapping)
    if origin is list:
        return isinstance(value, list | tuple) and all(_is_instance(v, args[0]) for v in value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def hybrid_params(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of :class:`recsys_core.Hybrid` from the settings."""
    m = settings.models
    return {
        **as_dict(settings.hybrid),
        "components": {
            "item_knn": {"model": "KNNWithMeans", "params": as_dict(m.item_knn)},
            "pure_svd": {"model": "PureSVD", "params": as_dict(m.pure_svd)},
            "popularity": {"model": "Popularity", "params": as_dict(m.popularity)},
        },
        "fallback": {"model": "Popularity", "params": as_dict(m.popularity)},
    }
