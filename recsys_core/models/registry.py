"""The model registry: class name -> model class, filled explicitly by ``recsys_core/__init__``.

A saved model names its class (``Recommender.save`` writes it), and a composite model's
components name theirs (``{"model": "KNNWithMeans", "params": {...}}``); both are looked up
here. Registration is explicit (``register`` in :mod:`recsys_core`) so that importing the
package is enough for :meth:`Recommender.load` to find any model, in any process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recsys_core.errors import ConfigError
from recsys_core.params import BadKey, build_params, closest

_MODELS: dict[str, type] = {}


def register(cls: type) -> type:
    """Register ``cls`` under its class name (ConfigError if another class holds the name)."""
    held = _MODELS.setdefault(cls.__name__, cls)
    if held is not cls:
        raise ConfigError(f"model name {cls.__name__!r} is already registered by {held!r}")
    return cls


def registered(name: str) -> type:
    """The model class registered under ``name`` (ConfigError naming the closest otherwise)."""
    if name not in _MODELS:
        hint = closest(name, list(_MODELS))
        raise ConfigError(f"unknown model {name!r}" + (f"; did you mean {hint!r}?" if hint else ""))
    return _MODELS[name]


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_MODELS)


def build(spec: Mapping[str, Any]) -> Any:
    """An unfitted model from ``{"model": class name, "params": {...}}``."""
    return registered(spec["model"])(**dict(spec.get("params", {})))


def check_spec(
    spec: Mapping[str, Any], at: str, keys: tuple[str, ...] = ("model", "params")
) -> type:
    """``spec`` is ``{"model": a registered class, "params": its valid parameters}`` (and only
    ``keys``); raises :class:`BadKey` under the key prefix ``at``; returns the class."""
    for key in spec:
        if key not in keys:
            raise BadKey(at + key, spec[key], "unknown key", list(keys))
    if "model" not in spec:
        raise BadKey(at + "model", None, "missing: a model class name")
    try:
        model = registered(spec["model"])
    except ConfigError as exc:
        raise BadKey(at + "model", spec["model"], str(exc)) from None
    try:
        build_params(model.Params, spec.get("params", {}), model.__name__)
    except ConfigError as exc:
        raise BadKey(at + "params", spec.get("params"), str(exc)) from None
    return model


def without_nulls(components: Any) -> Any:
    """A component spec mapping without the components set to None (null in YAML): how a
    settings layer removes a default component."""
    if isinstance(components, Mapping):
        return {k: v for k, v in components.items() if v is not None}
    return components
