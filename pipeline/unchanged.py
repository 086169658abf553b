"""Unchanged input, no work: would tonight's night be the live run's night again?

``python -m pipeline run`` (unless ``--force``), the nightly schedule and the new-file sensor ask
:func:`unchanged_since_live` before they start a night. When the raw files, the effective
settings and the code are those the live run recorded (its fingerprint,
:mod:`recsys_core.publish.fingerprint`), and the last run to start read those raw files too (so
the warehouse's models are the live run's, not those of a later run that failed on other
input), the night would publish the same content under a new run id: it is not started. The
live table, the models and the history stay as they are, Dagster shows every asset fresh (no
input has a new data version), and the launcher says so in one line naming the live run. A
night launched from the UI always runs.
"""

from __future__ import annotations

import json

import polars as pl
from upath import UPath

from pipeline.io_manager import read_value, stored_path
from pipeline.metadata import content_version
from pipeline.publishing import Published
from pipeline.resources import DataRoot
from pipeline.settings import run_settings
from recsys_core.errors import ConfigError
from recsys_core.publish import history
from recsys_core.publish.fingerprint import (
    code_digest,
    digest,
    fingerprint,
    raw_listing,
    same_inputs,
)
from recsys_core.settings import Settings

__all__ = ["night_fingerprint", "run_fingerprint", "unchanged_since_live"]

PACKAGES = ("recsys_core", "pipeline")
"""The project's packages, whose source is part of a night's ``code``."""


def night_fingerprint(listing: dict, settings: Settings) -> dict[str, str]:
    """The fingerprint of a night over the raw files ``listing`` with ``settings``."""
    return fingerprint(listing, settings.to_dict(), code_digest(PACKAGES))


def run_fingerprint(listing: dict, settings: Settings, ratings: pl.DataFrame) -> dict[str, str]:
    """What a run records: its night's fingerprint and its validated ratings' data version."""
    return night_fingerprint(listing, settings) | {"ratings": content_version(ratings).value}


def unchanged_since_live(data_root: DataRoot, config_file: str = "") -> str | None:
    """One line naming the live run when a night now would redo it (see the module
    docstring), else None: nothing is live, the live record has no fingerprint, a raw file, a
    setting or the code changed, the warehouse holds another run's input, or the settings do
    not load (the run then fails naming the key)."""
    try:  # any doubt means a night: its own steps then name what is wrong
        record = _live_record(Published(data_root))
        if not record or not record.get("fingerprint"):
            return None
        settings = run_settings(data_root.uri, config_file)
        with data_root.raw_copies() as files:
            listing = raw_listing(files)
        stored = stored_path(UPath(data_root.uri), "raw_files", ".json")
        last_read = digest(read_value(stored)) if stored.exists() else None
    except (ConfigError, OSError, ValueError, KeyError):
        return None
    now = night_fingerprint(listing, settings)
    if not listing or last_read != now["raw_files"] or not same_inputs(record["fingerprint"], now):
        return None
    return (
        f"unchanged since live run {record['run_id']} ({record.get('date', '?')}): same raw "
        f"files (data version {now['raw_files']}), settings and code; its models and lists "
        "stay live, nothing was run"
    )


def _live_record(published: Published) -> dict | None:
    """The record of the run ``CURRENT.json`` names (its history copy: the consistent set)."""
    run_id = published.current_run()
    if run_id is None or not history.RUN_ID.fullmatch(run_id):
        return None
    data = published.read_live(f"{history.HISTORY}/{run_id}/{history.RUN_RECORD}")
    return None if data is None else json.loads(data)
