"""Frozen, keyword-only parameter dataclasses built from keyword arguments with clear errors."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

from recsys_core.errors import ConfigError

P = TypeVar("P")


def closest(name: str, valid: list[str] | tuple[str, ...]) -> str | None:
    """The valid name closest to ``name`` (for 'did you mean' messages), or None."""
    hits = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return hits[0] if hits else None


def unknown_key_message(key: str, valid: list[str] | tuple[str, ...], where: str) -> str:
    """Message for an unknown configuration key, naming the closest valid one."""
    hint = closest(key, valid)
    suffix = f"; did you mean {hint!r}?" if hint else f"; valid keys: {', '.join(sorted(valid))}"
    return f"unknown key {key!r} in {where}{suffix}"


def build_params(cls: type[P], values: Mapping[str, Any], where: str | None = None) -> P:
    """Instantiate the frozen dataclass ``cls`` from ``values``.

    Unknown keys raise :class:`ConfigError` naming the key and the closest valid key; the
    dataclass's own ``__post_init__`` validation raises :class:`ConfigError` for bad values.
    """
    where = where or cls.__name__
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in values:
        if key not in fields:
            raise ConfigError(unknown_key_message(key, fields, where))
    return cls(**values)


def require(condition: bool, name: str, value: Any, expected: str) -> None:
    """Raise :class:`ConfigError` naming the parameter when ``condition`` is false."""
    if not condition:
        raise ConfigError(f"invalid value for {name!r}: {value!r} (expected {expected})")


def as_dict(params: Any) -> dict[str, Any]:
    """Plain-dict view of a params dataclass (tuples become lists, for JSON)."""
    return json_ready(dataclasses.asdict(params))


def json_ready(value: Any) -> Any:
    """Convert tuples to lists recursively so the value round-trips through JSON."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
