"""What a materialization shows: content-hash data versions, table schemas, column lineage."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from recsys_core.models.base import Recommender
from recsys_core.publish.fingerprint import digest


def content_version(value: Any) -> dg.DataVersion:
    """A hash of a value's content, so an unchanged output leaves downstream assets fresh. A
    record's is :func:`~recsys_core.publish.fingerprint.digest`: the ``raw_files`` version is
    the raw files' part of a night's fingerprint."""
    if not isinstance(value, pl.DataFrame | Recommender):
        return dg.DataVersion(digest(value))
    hashed = hashlib.sha256()
    if isinstance(value, pl.DataFrame):
        hashed.update(repr(value.schema).encode())
        if value.height:
            hashed.update(value.hash_rows(seed=0).to_numpy())
    else:
        hashed.update(repr(value).encode())
        data = value.data
        for arr in (data.user_items.indptr, data.user_items.indices, data.user_items.data):
            hashed.update(np.ascontiguousarray(arr).tobytes())
        for key, arr in sorted(value._state().items()):
            hashed.update(key.encode() + np.ascontiguousarray(arr).tobytes())
    return dg.DataVersion(hashed.hexdigest()[:16])


def output(value: Any, output_name: str = "result", **metadata: Any) -> dg.Output:
    """``value`` for the IO manager, with its content version and ``metadata`` (floats rounded
    to 4 digits; a table also gets its row count and column schema)."""
    meta: dict[str, Any] = {k: _rounded(v) for k, v in metadata.items()}
    if isinstance(value, pl.DataFrame):
        meta = table_metadata(value) | meta
    with warnings.catch_warnings():  # data_version on an Output is Beta; downstream needs it
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(value, output_name, metadata=meta, data_version=content_version(value))


def table_metadata(frame: pl.DataFrame, descriptions: dict[str, str] | None = None) -> dict:
    """Row count and column schema of a table."""
    described = descriptions or {}
    columns = [
        dg.TableColumn(name, str(dtype), description=described.get(name))
        for name, dtype in frame.schema.items()
    ]
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def described_columns(frame: pl.DataFrame, definition: Mapping[str, Any] | None) -> dict:
    """The column schema of ``frame`` with each column's sentence from the ``columns`` entry of
    an asset's definition metadata (column -> description), or nothing when it has none, so
    the schema an asset logged is replaced only by a better one."""
    columns = (definition or {}).get("columns")
    columns = getattr(columns, "value", columns)  # a MetadataValue.json or a plain dict
    if not isinstance(columns, Mapping) or not columns:
        return {}
    descriptions = {str(name): str(text) for name, text in columns.items()}
    return {"dagster/column_schema": table_metadata(frame, descriptions)["dagster/column_schema"]}


def column_lineage(sources: dict[str, list[tuple[str, str]]]) -> dg.TableColumnLineage:
    """Column-level lineage: output column -> [(upstream asset, upstream column), ...]."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(a), column_name=c) for a, c in deps]
            for column, deps in sources.items()
        }
    )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return dg.MetadataValue.float(round(value, 4))
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(value)
    return value
