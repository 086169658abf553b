"""Materialization metadata shared by the assets: row counts, schema, URI, data version."""

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pyarrow.parquet as pq

from recsys_core.publish.files import sha256_file


def table_metadata(frame: pl.DataFrame, path: Path) -> dict[str, Any]:
    """Row count, column schema and location of a table written to ``path``."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "dagster/uri": str(path),
    }


def parquet_metadata(path: Path) -> dict[str, Any]:
    """:func:`table_metadata` of a Parquet file from its footer, without reading the rows."""
    schema = pl.read_parquet_schema(path)
    return {
        "dagster/row_count": pq.ParquetFile(path).metadata.num_rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()]
        ),
        "dagster/uri": str(path),
    }


def data_version(*paths: Path) -> dg.DataVersion:
    """Content hash of files: an unchanged output leaves downstream assets fresh."""
    return dg.DataVersion(":".join(sha256_file(p)[:16] for p in paths))


def column_lineage(sources: dict[str, list[tuple[str, str]]]) -> dg.TableColumnLineage:
    """Column-level lineage: output column -> [(upstream asset, upstream column), ...]."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(a), column_name=c) for a, c in deps]
            for column, deps in sources.items()
        }
    )
