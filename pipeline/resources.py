"""Resources: where the data lives. Every path an asset touches comes from :class:`DataRoot`."""

import os
from pathlib import Path

import dagster as dg

DEFAULT_DATA_DIR = "data"


class DataRoot(dg.ConfigurableResource):
    """The data root (``RECSYS_DATA_DIR``, default ``./data``) and the layout under it.

    ``raw/`` raw rating files; ``warehouse/`` validated and intermediate tables; ``models/``
    fitted models; ``published/`` what downstream systems read.
    """

    root: str = ""

    @property
    def base(self) -> Path:
        return Path(self.root or os.environ.get("RECSYS_DATA_DIR") or DEFAULT_DATA_DIR).resolve()

    def path(self, *parts: str) -> Path:
        """A path under the root (parent folders created); it may not escape the root."""
        base = self.base
        target = base.joinpath(*parts).resolve()
        if not target.is_relative_to(base):
            raise ValueError(f"path {'/'.join(parts)!r} escapes the data root {base}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def raw_dir(self) -> Path:
        folder = self.path("raw", ".")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def warehouse(self, *parts: str) -> Path:
        return self.path("warehouse", *parts)

    def model(self, *parts: str) -> Path:
        return self.path("models", *parts)

    def published(self, *parts: str) -> Path:
        """A path under ``published/`` (the folder itself without ``parts``)."""
        if not parts:
            folder = self.path("published", ".")
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        return self.path("published", *parts)
