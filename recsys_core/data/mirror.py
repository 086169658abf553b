"""A local working copy of a data root kept in an object store (any fsspec URI).

Steps read and write ordinary local files; :class:`Mirror` fetches what a step asks for from
the store (only when the store's copy is newer) and pushes what the step wrote back when it
ends, oldest write first, so the publish order (history, live tables, ``CURRENT.json``) holds in
the store as well. Each object is replaced whole (an object-store PUT is atomic), so a reader
of the store never sees a partial file. ``file://`` URIs go through the same code, which is how
the tests exercise it; ``s3://``, ``gs://`` or ``az://`` need the matching fsspec package
(s3fs, gcsfs, adlfs) installed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fsspec.core import url_to_fs

from recsys_core.publish.files import TMP_MARK

log = logging.getLogger(__name__)


class Mirror:
    """The store at ``uri`` mirrored in the local folder ``cache``."""

    def __init__(self, uri: str, cache: Path) -> None:
        self.fs, self.remote = url_to_fs(uri)
        self.remote = self.remote.rstrip("/")
        self.cache = cache

    def fetch(self, rel: str) -> None:
        """Bring ``rel`` (a file, or a folder and everything under it) into the cache, where
        the store's copy is newer than the local one (a newer local file is an unpushed write)."""
        remote = self.remote if rel in ("", ".") else f"{self.remote}/{rel}"
        if not self.fs.exists(remote):
            return
        files = self.fs.find(remote) if self.fs.isdir(remote) else [remote]
        for name in files:
            local = self.cache / Path(name).relative_to(self.remote)
            modified = self.fs.modified(name).timestamp()
            if local.is_file() and local.stat().st_mtime >= modified:
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f"{TMP_MARK}{local.name}.{os.getpid()}")
            self.fs.get_file(name, str(tmp))
            os.utime(tmp, (modified, modified))
            os.replace(tmp, local)  # another process may fetch the same file: whole or nothing

    def push(self, since_ns: int) -> list[str]:
        """Upload every cached file written at or after ``since_ns`` (oldest first) that is
        newer than the store's copy; returns their paths relative to the root."""
        changed = [
            p
            for p in self.cache.rglob("*")
            if p.is_file() and TMP_MARK not in p.name and p.stat().st_mtime_ns >= since_ns
        ]
        pushed = []
        for local in sorted(changed, key=lambda p: p.stat().st_mtime_ns):
            rel = local.relative_to(self.cache).as_posix()
            remote = f"{self.remote}/{rel}"
            if self.fs.exists(remote) and self.fs.modified(remote).timestamp() >= (
                local.stat().st_mtime
            ):
                continue  # fetched during the step, not written: the store has it
            self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), remote)
            modified = self.fs.modified(remote).timestamp()
            os.utime(local, (modified, modified))  # now as new as the store's copy
            pushed.append(rel)
        log.info("pushed %d files to %s", len(pushed), self.remote)
        return pushed
