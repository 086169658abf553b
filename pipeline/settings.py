"""Run settings as a Dagster resource: built-in defaults < project file < per-run overrides.

The project file is ``$RECSYS_CONFIG`` if set (it must exist), else ``./recsys.yaml`` if present.
Per-run overrides are typed sections in the launchpad (``resources.settings.config.<section>``),
generated from the settings models, so the UI shows every key with its type and description;
a key left empty is not overridden. The ``automation`` and ``execution`` sections shape the
definitions themselves (schedule, executor, top-N buckets): they are read when the code location
loads (:data:`LOAD_TIME`) and a per-run value for them is refused, naming where to set it.

A bad project file never takes the code location down: :data:`LOAD_TIME` falls back to the
defaults (and says so in the log), and every run fails at its first step naming the key.
"""

from __future__ import annotations

import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Optional

import dagster as dg
import yaml
from pydantic import BaseModel, Field, PrivateAttr, create_model
from upath import UPath

from pipeline.io_manager import read_value, stored_path
from pipeline.resources import DataRoot
from recsys_core.errors import ConfigError
from recsys_core.settings import Layer, Settings, resolve

log = logging.getLogger(__name__)

DEFAULT_FILE = "recsys.yaml"
LOAD_TIME_SECTIONS = ("automation", "execution")


def project_file(config_file: str = "") -> Path | None:
    """The project file in force: ``config_file``, ``$RECSYS_CONFIG``, ``./recsys.yaml``, or
    None. A named file that does not exist is an error."""
    named = config_file or os.environ.get("RECSYS_CONFIG", "")
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"config file {named} (RECSYS_CONFIG) does not exist")
        return Path(named)
    return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None


def file_layer(path: Path) -> Layer:
    """The settings layer a YAML file holds."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return (str(path), loaded)


def load_settings(
    config_file: str = "", overrides: dict | None = None, tuned: Layer | None = None
) -> Settings:
    """defaults < project file < ``tuned`` (the tuning job's parameters, when ``tuning.apply``)
    < ``overrides`` (a per-run layer), validated."""
    path = project_file(config_file)
    layers = [file_layer(path)] if path is not None else []
    if tuned is not None:
        layers.append(tuned)
    if overrides:
        late = sorted(set(overrides) & set(LOAD_TIME_SECTIONS))
        if late:
            raise ConfigError(
                f"{', '.join(late)} cannot be set per run: these settings shape the code location "
                f"(executor, buckets, schedule) and are read when it loads; set them in "
                f"{path or DEFAULT_FILE} (or the file $RECSYS_CONFIG names) and reload"
            )
        layers.append((RUN_LAYER, overrides))
    return resolve(layers)


RUN_LAYER = "run config (resources.settings.config)"
TUNED_ASSET = "model_tuning"
"""The tuning job's asset: its best parameters form a layer when ``tuning.apply`` is on."""


def run_settings(root: str, config_file: str = "", overrides: dict | None = None) -> Settings:
    """The settings of a run over the data root ``root``: :func:`load_settings`, with the
    tuning job's stored parameters as a layer when ``tuning.apply`` is on."""
    settings = load_settings(config_file, overrides)
    stored = stored_path(UPath(root), TUNED_ASSET, ".json")
    if not settings.tuning.apply or not stored.exists():
        return settings
    tuned = (f"tuned parameters ({stored})", {"models": read_value(stored)})
    return load_settings(config_file, overrides, tuned)


def _load_time() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        log.warning(
            "settings file ignored while loading the code location (%s); using the "
            "defaults for the schedule and executor; every run will fail on it",
            exc,
        )
        return Settings()


LOAD_TIME = _load_time()
"""Defaults < project file, as the code location loads (defaults if the file is bad)."""


# -- typed per-run configuration, generated from the settings models -------------------------
def _fields(model: type[BaseModel]) -> dict[str, tuple[Any, str | None]]:
    return {n: (f.annotation, f.description) for n, f in model.model_fields.items()}


def _config_type(hint: Any) -> Any:
    """A Dagster-config-compatible annotation for a settings annotation."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _config_type(inner[0]) if len(inner) == 1 else Any
    if origin is Literal:
        return type(args[0])
    if hint in (bool, int, float, str):
        return hint
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return overrides_config(hint)
    if origin in (list, tuple) or hint in (list, tuple):
        return list[Any]
    return dict[str, Any]


def overrides_config(model: type[BaseModel]) -> type[dg.Config]:
    """A ``dg.Config`` with every field of ``model`` optional (None = not overridden)."""
    fields = {
        name: (Optional[_config_type(hint)], Field(None, description=text))  # noqa: UP045
        for name, (hint, text) in _fields(model).items()
    }
    return create_model(f"{model.__name__}Override", __base__=dg.Config, **fields)


def _set_values(value: Any) -> Any:
    """The keys a typed override actually sets (None means not set), as plain data."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: _set_values(v) for k, v in value.items() if v is not None}
    return value


SECTIONS = {name: overrides_config(hint) for name, (hint, _) in _fields(Settings).items()}

RecsysSettingsBase = create_model(
    "RecsysSettingsBase",
    __base__=dg.ConfigurableResource,
    config_file=(str, Field("", description="project file; '' = $RECSYS_CONFIG or ./recsys.yaml")),
    **{
        name: (Optional[cls], Field(None, description=f"this run's {name} settings"))  # noqa: UP045
        for name, cls in SECTIONS.items()
    },
)


class RecsysSettings(RecsysSettingsBase):  # type: ignore[misc, valid-type]
    """The layered settings every asset reads (see the module docstring)."""

    data_root: DataRoot
    _resolved: Settings | None = PrivateAttr(default=None)

    def overrides(self) -> dict[str, Any]:
        """This run's layer: the sections and keys set in the run config."""
        return {
            name: _set_values(getattr(self, name))
            for name in SECTIONS
            if getattr(self, name) is not None
        }

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        try:
            self._resolved = self._load()
        except ConfigError as exc:
            raise dg.Failure(f"invalid settings: {exc}") from None

    def _load(self) -> Settings:
        return run_settings(self.data_root.uri, self.config_file, self.overrides())

    @property
    def effective(self) -> Settings:
        """The merged, validated settings of this run."""
        if self._resolved is None:
            self._resolved = self._load()
        return self._resolved
