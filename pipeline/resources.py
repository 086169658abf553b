"""Where the data lives: the data root, a local folder or an fsspec URI (``s3://``, ``file://``).

Layout under the root: ``raw/`` (input files, read by hand), ``warehouse/`` and ``models/``
(written and read by the IO manager, :mod:`pipeline.io_manager`), ``published/`` (the gated,
atomic publish that downstream systems read, :mod:`pipeline.publishing`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field
from upath import UPath

from recsys_core.data.readers import raw_files
from recsys_core.data.watch import watched_files

DEFAULT_DATA_DIR = "data"


def is_uri(root: str) -> bool:
    """Whether ``root`` is a URI (object store, ``file://``) rather than a local path."""
    return "://" in root


def root_uri(root: str = "") -> str:
    """The configured root: ``root``, else ``$RECSYS_DATA_DIR``, else ``./data`` (absolute)."""
    value = root or os.environ.get("RECSYS_DATA_DIR") or DEFAULT_DATA_DIR
    return value if is_uri(value) else str(Path(value).resolve())


class DataRoot(dg.ConfigurableResource):
    """The data root (``RECSYS_DATA_DIR``, default ``./data``) and the folders under it."""

    root: str = Field("", description="local folder or fsspec URI; '' = $RECSYS_DATA_DIR or ./data")

    @property
    def uri(self) -> str:
        return root_uri(self.root)

    @property
    def is_local(self) -> bool:
        return not is_uri(self.uri)

    def upath(self, *parts: str) -> UPath:
        """``parts`` under the root; a path that would leave the root is refused."""
        base = UPath(self.uri)
        for part in parts:
            if part in ("", ".", "..") or "/" in part or "\\" in part:
                raise ValueError(f"path part {part!r} escapes the data root {self.uri}")
        return base.joinpath(*parts)

    def local(self, *parts: str) -> Path:
        """A local path under a local root (nothing is created: writers make their folders);
        URI roots have none."""
        if not self.is_local:
            raise ValueError(f"{self.uri} is not a local folder")
        return Path(self.uri).joinpath(*parts)

    def skipped_raw(self) -> list[str]:
        """The entries of ``raw/`` that are not read: hidden, ``.part`` uploads, folders and
        links that lead outside it."""
        if not self.is_local:
            return []
        return watched_files(self.local("raw"))[1]

    @contextmanager
    def raw_copies(self) -> Iterator[list[Path]]:
        """The raw files as local paths (sorted by name; hidden and ``.part`` files skipped).
        A URI root's files are downloaded into a private temporary folder for the duration."""
        if self.is_local:
            yield raw_files(self.local("raw"))
            return
        raw = self.upath("raw")
        names = sorted(p.name for p in raw.iterdir() if p.is_file()) if raw.exists() else []
        folder = Path(tempfile.mkdtemp(prefix="recsys-raw-"))
        try:
            for name in names:
                (folder / name).write_bytes((raw / name).read_bytes())
            yield raw_files(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
