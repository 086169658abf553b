"""Whole-object uploads to an fsspec store (``file://``, ``s3://``, ``gs://``...).

:func:`put_whole` never leaves a partial object under the target key: it uploads to a temporary
sibling key (``.tmp-<name>.<random>``, the local files' mark) and then moves it over the target
(``fs.mv``: a ``rename`` on ``file://``; a server-side copy on object stores, where each object
appears whole). A process killed mid-upload leaves the old object intact plus a temporary one,
which :func:`remove_stale_uploads` deletes at the start of the next run.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys_core.publish.files import TMP_MARK

__all__ = ["CHUNK", "put_whole", "remove_stale_uploads"]

CHUNK = 8 << 20


def put_whole(
    local: str | os.PathLike,
    fs: Any,
    remote: str,
    *,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Upload the file ``local`` to ``remote`` on the fsspec filesystem ``fs`` so that readers
    see the old object or the new one, never a part; ``progress(bytes_sent)`` is called after
    each chunk. Returns ``remote``. An ``OSError`` is re-raised naming ``remote`` (same errno).
    """
    parent, _, name = remote.rstrip("/").rpartition("/")
    tmp = f"{parent}/{TMP_MARK}{name}.{uuid.uuid4().hex}" if parent else f"{TMP_MARK}{name}"
    try:
        if parent:
            fs.makedirs(parent, exist_ok=True)
        _upload(Path(local), fs, tmp, chunk, progress)
        fs.mv(tmp, remote)
    except BaseException as err:
        _discard(fs, tmp)
        if isinstance(err, OSError) and remote not in str(err):
            reason = err.strerror or str(err) or type(err).__name__
            raise OSError(err.errno, f"cannot upload {local} to {remote}: {reason}") from err
        raise
    return remote


def remove_stale_uploads(fs: Any, folder: str) -> list[str]:
    """Delete temporary objects an interrupted :func:`put_whole` left under ``folder``."""
    if not fs.exists(folder):
        return []
    stale = [p for p in fs.find(folder) if p.rpartition("/")[2].startswith(TMP_MARK)]
    for path in stale:
        _discard(fs, path)
    return stale


def _upload(
    local: Path, fs: Any, tmp: str, chunk: int, progress: Callable[[int], None] | None
) -> None:
    sent = 0
    with open(local, "rb") as src, fs.open(tmp, "wb") as dst:
        while block := src.read(chunk):
            dst.write(block)
            sent += len(block)
            if progress is not None:
                progress(sent)
        _fsync(dst)


def _fsync(fh: Any) -> None:
    """fsync a local file before its rename (object stores have no such call)."""
    try:
        fh.flush()
        os.fsync(fh.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass


def _discard(fs: Any, path: str) -> None:
    with contextlib.suppress(OSError):  # already gone, or never written
        fs.rm(path)
