"""Noticing new or changed raw files, for a sensor that starts one run per change.

The cursor maps each file name to ``[size, mtime_ns, sha256]``. A file counts as changed only if
its content hash differs from the cursor's (a touched but unchanged file starts nothing). Files
modified less than ``settle_seconds`` ago are left for a later look, so a file still being
written does not start a run with half its lines.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from recsys_core.data.readers import raw_files
from recsys_core.publish.files import sha256_file


@dataclass(frozen=True)
class Scan:
    """What changed since the cursor, and the cursor to store next."""

    changed: list[str]
    cursor: str
    unsettled: list[str]


def scan(
    folder: str | os.PathLike,
    cursor: str | None,
    settle_seconds: float = 30.0,
    now: float | None = None,
) -> Scan:
    """Compare the files in ``folder`` with ``cursor`` (JSON from a previous scan, or None)."""
    seen: dict[str, list] = json.loads(cursor) if cursor else {}
    now = time.time() if now is None else now
    state: dict[str, list] = {}
    changed, unsettled = [], []
    for path in raw_files(Path(folder)):
        st = path.stat()
        old = seen.get(path.name)
        if old and old[0] == st.st_size and old[1] == st.st_mtime_ns:
            state[path.name] = old
            continue
        if now - st.st_mtime < settle_seconds:
            unsettled.append(path.name)
            if old:
                state[path.name] = old
            continue
        digest = sha256_file(path)
        state[path.name] = [st.st_size, st.st_mtime_ns, digest]
        if not old or old[2] != digest:
            changed.append(path.name)
    return Scan(changed, json.dumps(state, sort_keys=True), unsettled)


def run_key(cursor: str, names: list[str]) -> str:
    """A key naming exactly these file versions: the same change never starts two runs."""
    state = json.loads(cursor)
    return ",".join(f"{n}@{state[n][2][:12]}" for n in sorted(names))
