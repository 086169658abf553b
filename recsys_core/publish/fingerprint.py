"""A night's fingerprint: what its published content depends on, known before the night runs.

A night's lists, metrics and report are a function of three inputs (all randomness is seeded,
and block sizes, threads, buckets and executor change nothing: ``tests/test_determinism.py``,
``tests/test_scale_out.py``):

- ``raw_files``: the raw files' content, ``digest({name: {"bytes": n, "sha256": h}})``, the
  same string as the data version Dagster records for the ``raw_files`` asset;
- ``settings``: every effective setting, ``digest(settings)``; any change, even one that moves
  no list (the cron), means a new night: one rule, no list of exceptions to keep up to date;
- ``code``: the source files of the project's packages and the versions of the libraries that
  compute (a library upgrade may move a score).

The validated ratings are a function of the raw files and the ``ingest`` settings, so equal
fingerprints imply an equal ``ratings`` data version without reading a rating (the run record
keeps that version too, as ``ratings``; it is not compared: it can only be known after the
ingest). A night whose fingerprint equals the live run's would redo the live run's work and
publish the same content under a new run id: :func:`same_inputs` lets the launcher skip it.

``digest(value)`` is the first 16 hex digits of the SHA-256 of ``value`` as JSON with sorted
keys (non-JSON values by ``str``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from recsys_core.data.watch import display_name
from recsys_core.publish.files import sha256_file

__all__ = [
    "COMPARED",
    "COMPUTING",
    "code_digest",
    "digest",
    "fingerprint",
    "raw_listing",
    "same_inputs",
]

COMPARED = ("raw_files", "settings", "code")
"""The parts of a fingerprint two nights must share for the second to be skipped."""
COMPUTING = ("numpy", "scipy", "polars", "pyarrow", "implicit")
"""The libraries whose versions are part of ``code``."""


def digest(value: Any) -> str:
    """The first 16 hex digits of the SHA-256 of ``value`` as sorted-key JSON."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def raw_listing(files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": content hash}}`` of the raw files (what the
    ``raw_files`` asset stores)."""
    return {
        display_name(f.name): {"bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files
    }


@cache
def code_digest(packages: tuple[str, ...], distributions: tuple[str, ...] = COMPUTING) -> str:
    """``digest`` of every ``.py`` file of the installed ``packages`` (path and content) and of
    the installed versions of ``distributions`` (a missing one counts as ``None``). Cached: the
    code of a process does not change."""
    parts: dict[str, Any] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for path in sorted(Path(folder).rglob("*.py")):
                rel = f"{package}/{path.relative_to(folder).as_posix()}"
                parts[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    for name in distributions:
        try:
            parts[f"version:{name}"] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            parts[f"version:{name}"] = None
    return digest(parts)


def fingerprint(
    listing: Mapping[str, Any], settings: Mapping[str, Any], code: str
) -> dict[str, str]:
    """A night's fingerprint from its raw files' ``listing`` (:func:`raw_listing`), its
    effective ``settings`` (plain data) and its ``code`` (:func:`code_digest`)."""
    return {"raw_files": digest(listing), "settings": digest(settings), "code": code}


def same_inputs(recorded: Mapping[str, Any] | None, now: Mapping[str, Any]) -> bool:
    """Whether a run record's fingerprint names the same inputs as ``now`` (a record without
    one, from before fingerprints, never does)."""
    if not recorded:
        return False
    return all(recorded.get(key) is not None and recorded.get(key) == now[key] for key in COMPARED)
