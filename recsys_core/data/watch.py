"""Noticing new or changed raw files, for a sensor that starts one run per change.

A file counts as changed only if its content hash differs from the cursor's (a touched but
unchanged file starts nothing), and only once it is *quiet*: its size and mtime were the same at
two consecutive scans (the first sighting is kept in the cursor) and it was last modified at
least ``settle_seconds`` ago. So a file still being written, or copied slowly over the network,
does not start a run with half its lines.

Producers should still write ``name.part`` (or a hidden ``.name``) and rename it to ``name``
when complete: a rename is atomic, and ``.part`` and hidden files are never read here (nor
should the ingest read them).

Every detected change bumps a generation kept in the cursor, and the run key carries it with the
time of the change, so a file reverted to an earlier content is a new run rather than a
duplicate key Dagster would skip. A file name that is not valid UTF-8 (e.g. a Latin-1 byte)
is named by the ``repr`` of its bytes everywhere (cursor, changed list, run key).

Cursor (JSON)::

    {"v": 2, "generation": 3, "changed_at": 1764468000.0,
     "files": {name: [size, mtime_ns, sha256]},    # the content last seen as settled
     "pending": {name: [size, mtime_ns]}}          # seen once, waiting for a quiet second look

A version-1 cursor (``{name: [size, mtime_ns, sha256]}``) is read as ``files`` at generation 0.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys_core.publish.files import sha256_file

__all__ = ["PART_SUFFIX", "Scan", "display_name", "run_key", "scan", "watched_files"]

PART_SUFFIX = ".part"
VERSION = 2


@dataclass(frozen=True)
class Scan:
    """What changed since the cursor, and the cursor to store next."""

    changed: list[str]
    cursor: str
    unsettled: list[str]
    generation: int = 0
    skipped: list[str] = field(default_factory=list)  # .part and hidden files, never read


def display_name(name: str) -> str:
    """``name``, or the repr of its raw bytes when it is not valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(name))
    return name


def watched_files(folder: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Regular files in ``folder`` by name, and the names skipped: hidden or ``.part`` files,
    folders, and symbolic links that lead outside ``folder`` (a link must not make the run read
    a file its data root does not hold)."""
    root = Path(folder)
    if not root.is_dir():
        return [], []
    inside = root.resolve()
    files, skipped = [], []
    for path in sorted(root.iterdir()):
        hidden = path.name.startswith(".") or path.name.endswith(PART_SUFFIX)
        escapes = path.is_symlink() and not path.resolve().is_relative_to(inside)
        if hidden or escapes or not path.is_file():
            skipped.append(display_name(path.name))
        else:
            files.append(path)
    return files, skipped


def scan(
    folder: str | os.PathLike,
    cursor: str | None,
    settle_seconds: float = 30.0,
    now: float | None = None,
) -> Scan:
    """Compare the files in ``folder`` with ``cursor`` (JSON from a previous scan, or None)."""
    old = _load(cursor)
    now = time.time() if now is None else now
    files: dict[str, list] = {}
    pending: dict[str, list] = {}
    changed, unsettled = [], []
    found, skipped = watched_files(folder)
    for path in found:
        name = display_name(path.name)
        try:
            sig = _signature(path)
        except FileNotFoundError:  # renamed or deleted since the listing
            continue
        known = old["files"].get(name)
        if known and known[:2] == sig:
            files[name] = known
            continue
        digest = None
        if old["pending"].get(name) == sig and now - sig[1] / 1e9 >= settle_seconds:
            digest = sha256_file(path)
            if _signature(path) != sig:  # written to while we read it
                digest = None
        if digest is None:
            pending[name] = sig
            unsettled.append(name)
            if known:
                files[name] = known
            continue
        files[name] = [*sig, digest]
        if not known or known[2] != digest:
            changed.append(name)
    generation, changed_at = old["generation"], old["changed_at"]
    if changed:
        generation, changed_at = generation + 1, now
    state = {
        "v": VERSION,
        "generation": generation,
        "changed_at": changed_at,
        "files": files,
        "pending": pending,
    }
    return Scan(changed, json.dumps(state, sort_keys=True), unsettled, generation, skipped)


def run_key(cursor: str, names: list[str]) -> str:
    """A key naming exactly these file versions at this change: the same change never starts
    two runs, and a later change back to an earlier content is a new key."""
    state = _load(cursor)
    when = datetime.fromtimestamp(state["changed_at"] or 0, UTC).strftime("%Y%m%dT%H%M%SZ")
    files = ",".join(f"{n}@{state['files'][n][2][:12]}" for n in sorted(names))
    return f"g{state['generation']}-{when}:{files}"


def _signature(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _load(cursor: str | None) -> dict[str, Any]:
    state = json.loads(cursor) if cursor else {}
    if state.get("v") != VERSION:  # version 1: {name: [size, mtime_ns, sha256]}
        state = {"files": state}
    return {
        "generation": int(state.get("generation", 0)),
        "changed_at": state.get("changed_at"),
        "files": dict(state.get("files", {})),
        "pending": dict(state.get("pending", {})),
    }
