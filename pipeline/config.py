"""Run settings as a Dagster resource: built-in defaults < project file < per-run overrides.

The project file is ``$RECSYS_CONFIG`` if set (it must exist), else ``./recsys.yaml`` if present.
Per-run overrides go in the launchpad (or ``--config``) under
``resources: {settings: {config: {overrides: {...}}}}``, with the same shape as the file, e.g.
``{topn: {n: 20}, models: {popularity: {window_days: 30}}}``.
"""

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pydantic import Field

from recsys_core.errors import ConfigError
from recsys_core.settings import Layer, Settings, resolve

DEFAULT_FILE = "recsys.yaml"


class RecsysSettings(dg.ConfigurableResource):
    """The layered settings every asset reads (see module docstring)."""

    config_file: str = Field("", description="project file; '' = $RECSYS_CONFIG or ./recsys.yaml")
    overrides: dict[str, Any] = Field({}, description="this run's settings, merged key by key")

    def file_path(self) -> Path | None:
        """The project file in force, or None."""
        if self.config_file or os.environ.get("RECSYS_CONFIG"):
            path = Path(self.config_file or os.environ["RECSYS_CONFIG"])
            if not path.is_file():
                raise ConfigError(f"config file {path} (RECSYS_CONFIG) does not exist")
            return path
        return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None

    def layers(self) -> list[Layer]:
        """The layers above the defaults, lowest first, each with the name errors use."""
        layers: list[Layer] = []
        path = self.file_path()
        if path is not None:
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
            layers.append((str(path), loaded))
        layers.append(("run config (resources.settings.config.overrides)", self.overrides))
        return layers

    def effective(self, tuned: Path | None = None) -> Settings:
        """The merged, validated settings of this run. With ``tuning.apply`` on and a ``tuned``
        parameters file (from the tuning job), its ``models`` sections form a layer between the
        project file and the run's overrides."""
        layers = self.layers()
        settings = resolve(layers)
        if settings.tuning.apply and tuned is not None and tuned.is_file():
            best = {"models": json.loads(tuned.read_text())}
            settings = resolve([*layers[:-1], (f"tuned parameters ({tuned})", best), layers[-1]])
        return settings


TUNED_FILE = "best_params.json"


def run_settings(settings: RecsysSettings, data_root: Any) -> Settings:
    """What the assets use: :meth:`RecsysSettings.effective` with the tuning job's output."""
    return settings.effective(tuned=data_root.model(TUNED_FILE))


LOAD_TIME = RecsysSettings().effective()
"""The settings as the code location loads (defaults < project file). The ``automation`` and
``execution`` sections shape the definitions themselves (schedule, executor, top-N buckets), so
they are read here, once; a run's overrides apply to every other section."""
