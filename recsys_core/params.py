"""Typed, frozen hyperparameters and settings: one pydantic model per component and section.

Every model's hyperparameters and every settings section subclass :class:`Params`: unknown keys
are refused (``extra="forbid"``), values are type-checked strictly (``"0.01"`` is not a number,
``True`` is not an int; an int is a float), NaN and infinities are refused, and the instance is
frozen. Field docstrings are the documentation (``use_attribute_docstrings``).

:func:`build_params` turns pydantic's ``ValidationError`` into :class:`ConfigError` naming the
key path, the offending value and, for an unknown key, the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from recsys_core.errors import ConfigError

P = TypeVar("P", bound="Params")


class Params(BaseModel):
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
        f"; did you mean {prefix + hint!r}?" if hint else f"; valid keys: {', '.join(sorted(valid))}"
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
    if dataclasses.is_dataclass(cls):  # not yet converted to Params
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(unknown_key_message(key, names, where))
        return cls(**values)
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys, got {values!r}")
    try:
        return cls.model_validate(dict(values))
    except ValidationError as exc:
        raise ConfigError(describe(exc, cls, where)) from None


def describe(exc: ValidationError, cls: type[BaseModel], where: str) -> str:
    """One message for the first error of ``exc`` (validating ``cls``), naming the key path."""
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "(settings)"
    if error["type"] == "extra_forbidden":
        return unknown_key_message(key, fields_at(cls, loc[:-1]), where)
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = error.get("input")
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
    """Plain JSON-ready dict of a params model (tuples become lists)."""
    if dataclasses.is_dataclass(params):
        return json_ready(dataclasses.asdict(params))
    return params.model_dump(mode="json")


def json_ready(value: Any) -> Any:
    """Convert tuples to lists recursively so the value round-trips through JSON."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
