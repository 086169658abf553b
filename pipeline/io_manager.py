"""One IO manager for every value an asset returns: tables, models and small records.

Assets take and return values; this decides where they live under the data root, so lineage
follows from the assets' inputs and no asset spells a file name:

- a polars ``DataFrame`` -> ``warehouse/<asset>.parquet`` (row groups of 100k rows, statistics),
  its column schema described from the asset's ``columns`` metadata (column -> sentence);
- a fitted :class:`~recsys_core.models.base.Recommender` -> ``models/<asset>.npz`` through the
  model contract (plain arrays and a JSON header, never pickle);
- a ``dict`` (a small record: chosen settings, file listings) -> ``warehouse/<asset>.json``;
- a ``str`` (a rendered page) -> ``warehouse/<asset>.html``.

A value has one stored form: writing it removes the asset's value stored in another form (a
rating model skipped on implicit feedback is a small ``{"skipped": reason}`` record, and last
night's ``.npz`` must not be read in its place). An op output that is not an asset (a top-N
bucket) goes under ``warehouse/steps/<run_id>/``.
The root is a local folder or any fsspec URI (``s3://bucket/recsys``, ``file:///...``): values
go through ``UPath``. Every write is whole or nothing: a local file is written beside its target
and renamed over it; a store object is uploaded under a temporary key and moved over it.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.metadata import described_columns
from pipeline.resources import root_uri
from recsys_core.memory import release_free_memory
from recsys_core.models.base import Recommender
from recsys_core.publish.files import atomic_write

ROW_GROUP = 100_000
KINDS = {".parquet": "warehouse", ".npz": "models", ".json": "warehouse", ".html": "warehouse"}


def suffix_for(obj: Any) -> str:
    """The file suffix of a value by its type."""
    if isinstance(obj, pl.DataFrame):
        return ".parquet"
    if isinstance(obj, Recommender):
        return ".npz"
    if isinstance(obj, dict):
        return ".json"
    if isinstance(obj, str):
        return ".html"
    raise TypeError(f"the IO manager stores DataFrames, models, dicts and str, not {type(obj)}")


def write_value(obj: Any, path: UPath) -> None:
    """Write ``obj`` at ``path`` (suffix decides the format), whole or nothing."""
    if path.protocol in ("", "file", "local"):
        atomic_write(Path(path.path), lambda tmp: _dump(obj, tmp))
        return
    with tempfile.TemporaryDirectory(prefix="recsys-io-") as folder:
        local = Path(folder) / path.name
        _dump(obj, local)
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.fs.put_file(str(local), tmp.path)
        tmp.fs.mv(tmp.path, path.path)


def _dump(obj: Any, target: Path) -> None:
    if isinstance(obj, pl.DataFrame):
        obj.write_parquet(target, row_group_size=ROW_GROUP, statistics=True)
    elif isinstance(obj, Recommender):
        obj.save(target)
    elif isinstance(obj, str):
        target.write_text(obj, encoding="utf-8")
    else:
        target.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_value(path: UPath) -> Any:
    """Read what :func:`write_value` wrote at ``path``."""
    if path.suffix == ".parquet":
        return pl.read_parquet(
            path.read_bytes() if path.protocol not in ("", "file") else path.path
        )
    if path.suffix == ".npz":
        return Recommender.load(io.BytesIO(path.read_bytes()))
    if path.suffix == ".html":
        return path.read_text(encoding="utf-8")
    return json.loads(path.read_text())


def stored_path(base: UPath, asset: str, suffix: str) -> UPath:
    """Where the value of ``asset`` with this suffix lives under the root ``base``."""
    return base / KINDS[suffix] / f"{asset}{suffix}"


def steps_folder(base: UPath) -> UPath:
    """Where op outputs that are not assets (the top-N buckets) live until they are combined."""
    return base / "warehouse" / "steps"


def remove_steps(base: UPath) -> None:
    """Delete every stored op output (this run's, once combined, and any a failed run left)."""
    folder = steps_folder(base)
    if folder.exists():
        folder.fs.rm(folder.path, recursive=True)


class RecsysIOManager(dg.UPathIOManager):
    """See the module docstring."""

    extension = None

    def _folder_path(self, context: dg.InputContext | dg.OutputContext, suffix: str) -> UPath:
        if context.has_asset_key:
            return stored_path(self._base_path, "_".join(context.asset_key.path), suffix)
        run_id, step, output = context.get_identifier()[:3]
        return steps_folder(self._base_path) / run_id / f"{step}.{output}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        suffix = suffix_for(obj)
        path = self._folder_path(context, suffix)
        write_value(obj, path)
        for other in KINDS.keys() - {suffix}:  # one stored form per value
            stale = self._folder_path(context, other)
            if stale.exists():
                stale.unlink()
        metadata: dict[str, Any] = {"dagster/uri": dg.MetadataValue.path(str(path))}
        if isinstance(obj, pl.DataFrame):  # the asset's ``columns`` describe its schema
            metadata |= described_columns(obj, context.definition_metadata)
        context.add_output_metadata(metadata)
        release_free_memory()  # the step is done with its arrays: the next one starts lean

    def load_input(self, context: dg.InputContext) -> Any:
        for suffix in KINDS:
            path = self._folder_path(context, suffix)
            if path.exists():
                return read_value(path)
        raise FileNotFoundError(
            f"no stored value for {context.asset_key or context.get_identifier()} under "
            f"{self._base_path}: materialize it first"
        )

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        write_value(obj, path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return read_value(path)


class RecsysStorage(dg.ConfigurableIOManagerFactory):
    """The IO manager over the data root (``''``: ``$RECSYS_DATA_DIR`` or ``./data``)."""

    root: str = ""

    def create_io_manager(self, context: dg.InitResourceContext) -> RecsysIOManager:
        return RecsysIOManager(base_path=UPath(root_uri(self.root)))
