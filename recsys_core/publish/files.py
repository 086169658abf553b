"""Atomic file writes: a reader sees the old file or the new one, never a partial one.

Every write goes to a temporary sibling (``.tmp-<name>.<random>``), is fsynced, then renamed over
the target; the folder is fsynced after. A process killed mid-write leaves only the temporary
file, which :func:`remove_stale_temps` deletes at the start of the next run. The new file gets
the usual ``0o666 & ~umask`` mode (``mkstemp`` makes 0600); the umask is read from
``/proc/self/status`` without changing it, so a thread writing meanwhile is never affected.

An ``OSError`` during a write (disk full, permission denied) is re-raised as an ``OSError`` of the
same ``errno`` whose message names the target path, so a log line says which file failed.

:func:`failpoint` is a test hook: with ``RECSYS_FAILPOINT=<name>`` in the environment the
process kills itself (SIGKILL) at that named point, e.g. ``before-rename:published/metrics.parquet``
(a written but not yet renamed file) or ``publish:before-live``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

TMP_MARK = ".tmp-"
FAILPOINT_ENV = "RECSYS_FAILPOINT"
DEFAULT_UMASK = 0o022  # where /proc is missing (not Linux)


def failpoint(name: str) -> None:
    """SIGKILL this process here when ``$RECSYS_FAILPOINT`` equals ``name`` (crash tests)."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename it over."""
    return _atomic(Path(path), write)


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_MARK}{path.name}.")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; readers are often other users
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        failpoint(f"before-rename:{path.parent.name}/{path.name}")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _naming(err, path) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` with ``path`` in its message (same errno), unless it already names it."""
    if str(path) in str(err):
        return err
    reason = err.strerror or str(err) or type(err).__name__
    return OSError(err.errno, f"cannot write {path}: {reason}")


def _umask(status: str | os.PathLike = "/proc/self/status") -> int:
    """The process umask, read without changing it (``os.umask`` can only set it: setting it to
    0 for a moment would make files another thread creates meanwhile world-writable)."""
    try:
        with open(status, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return DEFAULT_UMASK


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet at ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: frame.write_parquet(tmp, statistics=True))


def write_csv_atomic(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV with a header at ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: frame.write_csv(tmp))


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) at ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(value: Any, path: str | os.PathLike) -> Path:
    """Write ``value`` as pretty JSON at ``path`` atomically."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    return _atomic(Path(path), lambda tmp: tmp.write_text(text + "\n"))


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically."""
    return _atomic(Path(dst), lambda tmp: shutil.copyfile(src, tmp))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files left by an interrupted write in ``folder`` (recursively)."""
    removed = []
    root = Path(folder)
    if root.exists():
        for tmp in root.rglob(f"{TMP_MARK}*"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
