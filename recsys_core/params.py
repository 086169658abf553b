"""Typed, frozen hyperparameters and settings: one pydantic model per component and section.

Every model's hyperparameters and every settings section subclass :class:`Params`: unknown keys
are refused (``extra="forbid"``), values are type-checked strictly (``"0.01"`` is not a number,
``True`` is not an int; an int is a float), NaN and infinities are refused, and the instance is
frozen. Field docstrings are the documentation (``use_attribute_docstrings``).

Any problem is a :class:`ConfigError` naming the key path, the offending value and, for an
unknown key, the closest valid key: :func:`build_params` (and constructing a model directly)
turn pydantic's ``ValidationError`` into it. A validator that checks several fields at once
raises :class:`BadKey` to blame one key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from recsys_core.errors import ConfigError

__all__ = [
    "WHOLE",
    "BadKey",
    "ListAsTuple",
    "Params",
    "as_dict",
    "build_params",
    "closest",
    "require",
    "unknown_key_message",
]

P = TypeVar("P", bound="Params")


class _RaisesConfigError(type(BaseModel)):
    """Metaclass: constructing a model directly (``SVDParams(lr_all="0.01")``) raises
    :class:`ConfigError`. (Overriding ``__init__`` instead would also wrap the errors of nested
    models, which pydantic then builds through that ``__init__``, losing their key path.)"""

    def __call__(cls, **values: Any) -> Any:
        try:
            return super().__call__(**plain(values))
        except ValidationError as exc:
            raise ConfigError(describe(exc, cls, cls.__name__)) from None


class Params(BaseModel, metaclass=_RaisesConfigError):
    """Base of every hyperparameter and settings model (see the module docstring)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
        validate_default=True,
        arbitrary_types_allowed=False,
    )


class BadKey(ValueError):  # noqa: N818 (a signal to describe(), caught there)
    """Raised by a validator to blame the key ``key`` (dotted, below the model validated) for
    ``value``; with ``valid``, the key is unknown and the message names the closest valid one."""

    def __init__(self, key: str, value: Any, message: str, valid: list[str] | None = None):
        super().__init__(message)
        self.key, self.value, self.message, self.valid = key, value, message, valid


class Whole:
    """``Annotated`` marker of a mapping-valued setting that a layer replaces whole instead of
    merging key by key (a grid: a user's grid must be able to narrow the default one)."""

    def __repr__(self) -> str:
        return "WHOLE"


WHOLE = Whole()


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


ListAsTuple = BeforeValidator(_as_tuple)
"""``Annotated[tuple[...], ListAsTuple]``: a tuple field that also takes a list (YAML, JSON),
element types still checked strictly."""


def plain(value: Any) -> Any:
    """``value`` with numpy scalars made Python scalars (``np.int64(3)`` -> ``3``), recursively
    through dicts, lists and tuples, so strict validation judges the value, not its box."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    return value


def closest(name: str, valid: list[str] | tuple[str, ...]) -> str | None:
    """The valid name closest to ``name`` (for 'did you mean' messages), or None."""
    hits = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return hits[0] if hits else None


def unknown_key_message(key: str, valid: list[str] | tuple[str, ...], where: str) -> str:
    """Message for an unknown configuration key, naming the closest valid one."""
    leaf = key.rsplit(".", 1)[-1]
    prefix = key[: len(key) - len(leaf)]
    hint = closest(leaf, valid)
    suffix = (
        f"; did you mean {prefix + hint!r}?"
        if hint
        else f"; valid keys: {', '.join(sorted(valid))}"
    )
    return f"unknown key {key!r} in {where}{suffix}"


def build_params(cls: type[P], values: Mapping[str, Any] | P, where: str | None = None) -> P:
    """Validate ``values`` into the :class:`Params` model ``cls`` (an instance passes as is).

    Any problem is a :class:`ConfigError` naming the key path (``sim_options.name``), the value
    and what was expected; an unknown key also names the closest valid key.
    """
    where = where or cls.__name__
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys, got {values!r}")
    try:
        return cls.model_validate(plain(dict(values)))
    except ValidationError as exc:
        raise ConfigError(describe(exc, cls, where)) from None


def describe(exc: ValidationError, cls: type[BaseModel], where: str) -> str:
    """One message for the first error of ``exc`` (validating ``cls``), naming the key path."""
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    value = error.get("input")
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, BadKey):
        loc += cause.key.split(".")
        value, message = cause.value, cause.message
        if cause.valid is not None:
            return unknown_key_message(".".join(loc), cause.valid, where)
    key = ".".join(loc) or "(all keys)"
    if error["type"] == "extra_forbidden":
        return unknown_key_message(key, fields_at(cls, loc[:-1]), where)
    return f"invalid value for {key!r} in {where}: {value!r} ({message})"


def fields_at(cls: type[BaseModel], path: list[str]) -> list[str]:
    """Field names of the model reached from ``cls`` along ``path`` (mapping keys skipped)."""
    model: Any = cls
    for part in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            continue  # a mapping key (e.g. a component name): stay on the value's model
        model = _model_of(fields[part].annotation)
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def _model_of(annotation: Any) -> Any:
    """The BaseModel inside an annotation (``X``, ``X | None``, ``dict[str, X]``), else it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def require(condition: bool, name: str, value: Any, expected: str) -> None:
    """Raise :class:`ConfigError` naming a function argument when ``condition`` is false (for
    arguments of plain functions; models and settings validate through :class:`Params`)."""
    if not condition:
        raise ConfigError(f"invalid value for {name!r}: {value!r} (expected {expected})")


def as_dict(params: BaseModel) -> dict[str, Any]:
    """Plain JSON-ready dict of a params model (tuples become lists; nested models dicts)."""
    return params.model_dump(mode="json")
