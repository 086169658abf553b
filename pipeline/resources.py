"""Resources: where the data lives. Every path an asset touches comes from :class:`DataRoot`."""

import hashlib
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from recsys_core.data.mirror import Mirror

DEFAULT_DATA_DIR = "data"


class DataRoot(dg.ConfigurableResource):
    """The data root (``RECSYS_DATA_DIR``, default ``./data``) and the layout under it.

    ``raw/`` raw rating files; ``warehouse/`` validated and intermediate tables; ``models/``
    fitted models; ``published/`` what downstream systems read.

    The root is a local path, or a URI (``s3://bucket/recsys``, ``gs://…``, ``file:///…``) for
    runs whose steps are on several machines: each step then works in a local copy
    (``cache_dir``) that fetches what the step reads from the store and pushes what it wrote
    when the step ends (:mod:`recsys_core.data.mirror`).
    """

    root: str = ""
    cache_dir: str = Field(
        "", description="local copy of a URI root; '' = $RECSYS_CACHE_DIR or <tmp>/recsys-cache"
    )
    _since_ns: int = PrivateAttr(default=0)

    @property
    def uri(self) -> str:
        return self.root or os.environ.get("RECSYS_DATA_DIR") or DEFAULT_DATA_DIR

    @property
    def mirror(self) -> Mirror | None:
        """The store behind a URI root (None for a local path)."""
        return Mirror(self.uri, self.base) if "://" in self.uri else None

    @property
    def base(self) -> Path:
        """The local folder every path is under (for a URI root: its local copy)."""
        if "://" not in self.uri:
            return Path(self.uri).resolve()
        cache = self.cache_dir or os.environ.get("RECSYS_CACHE_DIR")
        folder = Path(cache) if cache else Path(tempfile.gettempdir()) / "recsys-cache"
        return (folder / hashlib.sha256(self.uri.encode()).hexdigest()[:16]).resolve()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._since_ns = time.time_ns()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        mirror = self.mirror
        if mirror is not None:
            mirror.push(self._since_ns)

    def path(self, *parts: str) -> Path:
        """A path under the root (parent folders created; a folder itself too when the last
        part is ``"."``); it may not escape the root."""
        base = self.base
        target = base.joinpath(*parts).resolve()
        if not target.is_relative_to(base):
            raise ValueError(f"path {'/'.join(parts)!r} escapes the data root {base}")
        (target if parts and parts[-1] == "." else target.parent).mkdir(parents=True, exist_ok=True)
        mirror = self.mirror
        if mirror is not None:
            mirror.fetch(target.relative_to(base).as_posix())
        return target

    @property
    def raw_dir(self) -> Path:
        return self.path("raw", ".")

    def warehouse(self, *parts: str) -> Path:
        return self.path("warehouse", *parts)

    def model(self, *parts: str) -> Path:
        return self.path("models", *parts)

    def published(self, *parts: str) -> Path:
        """A path under ``published/`` (the folder itself without ``parts``)."""
        return self.path("published", *(parts or (".",)))
