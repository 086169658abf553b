"""One writer per data root: an exclusive ``flock`` on ``<root>/.recsys.lock``.

Whoever writes the data root (a scheduled run, a sensor run, a manual ``python -m pipeline run``,
the CLI's ``rollback``) takes the lock first; a second writer fails at once, naming the holder
(owner, host, pid, start time) from the lock file's text. The kernel releases a ``flock`` when
its process dies, even by SIGKILL, so a stale lock never blocks: the lock is trusted, the text
is only a description (it may be left over from a dead holder).

Take it once per run: with the multiprocess executor every step process sets up its own
resources, so :class:`DataRootLock` would be taken and dropped per step and two concurrent steps
of one run would block each other. Use it with the in-process executor, or in a job whose
writing happens in one step.

A remote root (``s3://``...) cannot be flocked: give ``lock_path``, a local file every writer
shares (e.g. on the host that runs the daemon).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import dagster as dg
from pydantic import PrivateAttr

__all__ = ["LOCK_NAME", "DataRootLock", "LockHeldError", "hold_lock", "lock_file"]

LOCK_NAME = ".recsys.lock"


class LockHeldError(RuntimeError):
    """The data root is locked by another writer; the message names it."""

    def __init__(self, path: Path, holder: dict[str, Any] | None):
        self.path, self.holder = path, holder
        super().__init__(f"data root is locked by {_describe(holder)} ({path}); not writing")


def lock_file(root: str | os.PathLike, lock_path: str | os.PathLike | None = None) -> Path:
    """The lock file of ``root`` (a folder or a ``file://`` URI), or ``lock_path`` if given."""
    if lock_path:
        return Path(lock_path)
    text = os.fspath(root)
    if "://" not in text:
        return Path(text) / LOCK_NAME
    url = urlparse(text)
    if url.scheme != "file":
        raise ValueError(f"cannot flock the remote data root {text}; give a local lock_path")
    return Path(url.netloc + url.path) / LOCK_NAME


def acquire(path: Path, owner: str) -> IO[str]:
    """Take the lock at ``path`` for ``owner`` or raise :class:`LockHeldError`; returns the open
    file that holds it (:func:`release` it to let go). Opened for append: nothing is truncated
    before the lock is ours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (kept open: it is the lock)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fh)
        fh.close()
        raise LockHeldError(path, holder) from None
    except BaseException:
        fh.close()
        raise
    me = {
        "owner": owner,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps(me) + "\n")
    fh.flush()
    return fh


def release(fh: IO[str]) -> None:
    """Let go of a lock taken by :func:`acquire` (its text is cleared first)."""
    try:
        fh.seek(0)
        fh.truncate()
        fh.flush()
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


@contextmanager
def hold_lock(
    root: str | os.PathLike, owner: str, lock_path: str | os.PathLike | None = None
) -> Iterator[Path]:
    """Hold the data root's lock for the ``with`` block (e.g. ``hold_lock(root, "rollback")``)."""
    path = lock_file(root, lock_path)
    fh = acquire(path, owner)
    try:
        yield path
    finally:
        release(fh)


class DataRootLock(dg.ConfigurableResource):
    """Holds the data root's write lock from resource setup to teardown; a run that cannot take
    it fails at once with a ``dg.Failure`` naming the holder."""

    root: str = ""
    """The data root (a folder or ``file://`` URI); '' = ``$RECSYS_DATA_DIR`` or ``data``."""
    lock_path: str = ""
    """A local lock file to use instead of ``<root>/.recsys.lock`` (needed for remote roots)."""
    _held: IO[str] | None = PrivateAttr(default=None)

    def path(self) -> Path:
        root = self.root or os.environ.get("RECSYS_DATA_DIR") or "data"
        try:
            return lock_file(root, self.lock_path or None)
        except ValueError as err:
            raise dg.Failure(str(err)) from err

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        owner = f"run {context.run.run_id}" if context.run else "a run"
        try:
            self._held = acquire(self.path(), owner)
        except LockHeldError as err:
            raise dg.Failure(
                description=str(err),
                metadata={"lock": str(err.path), "holder": dg.MetadataValue.json(err.holder or {})},
            ) from err

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._held is not None:
            release(self._held)
            self._held = None


def _read(fh: IO[str]) -> dict[str, Any] | None:
    try:
        fh.seek(0)
        holder = json.loads(fh.read() or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (no description in the lock file)"
    return (
        f"{holder.get('owner', '?')} on host {holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}, since {holder.get('started', '?')}"
    )
