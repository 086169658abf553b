"""The published table's Parquet contract, read back with pyarrow: key-value metadata, declared
non-null columns, sorting columns, row groups with statistics, and refusals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from recsys_core.errors import DataError
from recsys_core.publish.table import (
    COLUMN_DOCS,
    NON_NULL_COLUMNS,
    PUBLISHED_COLUMNS,
    ROW_GROUP,
    SCHEMA_VERSION,
    published_table,
    write_published,
)

RUN = "run-42"
CONTRACT = Path(__file__).parents[1] / "docs" / "contract.md"
WHEN = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def lists(n_users: int, n: int = 10, seed: int = 0) -> pl.DataFrame:
    """``n`` rows per user, ranks 1..n, decreasing scores, sources named by algorithm."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, n_users + 1), n)
    ranks = np.tile(np.arange(1, n + 1), n_users)
    recs = pl.DataFrame(
        {
            "user_id": users,
            "rank": ranks,
            "item_id": rng.integers(1, 10_000, len(users)),
            "score": 1.0 / ranks,
            "source": np.where(ranks <= 7, "pure_svd", "popularity"),
        }
    )
    return published_table(recs, RUN, WHEN)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> pq.ParquetFile:
    path = tmp_path_factory.mktemp("pub") / "recommendations.parquet"
    write_published(lists(25_001), path, RUN)  # 250,010 rows: 3 row groups
    return pq.ParquetFile(path)


def test_key_value_metadata(written):
    meta = written.schema_arrow.metadata
    assert meta[b"recsys.schema_version"] == SCHEMA_VERSION.encode() == b"3"
    assert meta[b"recsys.run_id"] == RUN.encode()
    assert json.loads(meta[b"recsys.sorted_by"]) == ["user_id", "rank"]


def test_non_null_columns_are_declared_non_null(written):
    schema = written.schema_arrow
    assert schema.names == list(PUBLISHED_COLUMNS)
    assert {f.name for f in schema if not f.nullable} == set(NON_NULL_COLUMNS)
    assert schema.field("explanation").nullable
    parquet = written.schema  # the Parquet schema itself, not only the stored arrow schema
    assert parquet.column(0).max_definition_level == 0  # user_id: REQUIRED


def test_row_groups_of_100_000_with_statistics_and_sort_order(written):
    meta = written.metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        ROW_GROUP, ROW_GROUP, 50_010]  # fmt: skip
    first = meta.row_group(0)
    user = first.column(0)
    assert user.is_stats_set and (user.statistics.min, user.statistics.max) == (1, 10_000)
    assert meta.row_group(1).column(0).statistics.min == 10_001
    assert [(c.column_index, c.descending) for c in first.sorting_columns] == [
        (0, False),
        (1, False),
    ]


def test_round_trip_equals_the_frame(tmp_path):
    frame = lists(30)
    path = write_published(frame.lazy(), tmp_path / "r.parquet", RUN)
    assert pl.read_parquet(path).equals(frame)
    assert pl.read_parquet(path)["source"].unique().sort().to_list() == ["popularity", "pure_svd"]


def test_empty_table_keeps_schema_and_metadata(tmp_path):
    path = write_published(lists(0), tmp_path / "r.parquet", RUN)
    file = pq.ParquetFile(path)
    assert file.metadata.num_rows == 0 and file.schema_arrow.metadata[b"recsys.run_id"] == b"run-42"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((11 - pl.col("rank")).alias("rank"), "not sorted"),
        (pl.when(pl.col("rank") == 3).then(None).otherwise(pl.col("score")).alias("score"), "null"),
        (pl.lit("other-run").alias("run_id"), "run id"),
        (
            pl.when(pl.col("user_id") == 7)
            .then(pl.lit("n2"))
            .otherwise(pl.lit("n1"))
            .alias("model_run_id"),
            "several nights",
        ),
    ],
)
def test_refuses_what_the_contract_forbids(tmp_path, change, message):
    frame = lists(20).with_columns(change)
    with pytest.raises(DataError, match=message):
        write_published(frame, tmp_path / "r.parquet", RUN)
    assert not (tmp_path / "r.parquet").exists()  # nothing half-written left behind


def test_a_refreshed_table_keeps_earlier_rows_run_ids_and_names_the_publishing_run(tmp_path):
    night = lists(30)
    refreshed = night.with_columns(
        pl.when(pl.col("user_id") == 5)
        .then(pl.lit("refresh-1"))
        .otherwise("run_id")
        .alias("run_id")
    )
    path = write_published(refreshed, tmp_path / "r.parquet", "refresh-1", row_runs={RUN})
    assert pl.read_parquet(path).equals(refreshed)
    assert pq.ParquetFile(path).schema_arrow.metadata[b"recsys.run_id"] == b"refresh-1"
    with pytest.raises(DataError, match="run id"):
        write_published(refreshed, tmp_path / "s.parquet", "refresh-1")  # RUN not allowed


def test_every_column_is_documented():
    assert list(COLUMN_DOCS) == list(PUBLISHED_COLUMNS)
    assert all(text.endswith(".") and len(text) < 200 for text in COLUMN_DOCS.values())


def test_the_reading_recipes_in_the_contract_run(tmp_path, monkeypatch):
    """Every Python snippet of docs/contract.md (but Spark's) runs against a published folder,
    and the ones that read user 42 get that user's whole list in rank order."""
    blocks = re.findall(r"```python\n(.*?)```", CONTRACT.read_text(), re.S)
    published = tmp_path / "published"
    for where in (published, published / "history" / RUN):
        write_published(lists(50), where / "recommendations.parquet", RUN)
        pl.DataFrame({"run_id": [RUN], "value": [0.1]}).write_parquet(where / "metrics.parquet")
    (published / "CURRENT.json").write_text(json.dumps({"run_id": RUN}))
    monkeypatch.chdir(tmp_path)
    snippets = [b for b in blocks if "spark" not in b]
    for block in snippets:
        scope: dict = {}
        exec(block, scope)
        if "user" in scope:
            user = pl.DataFrame(scope["user"])
            assert user["user_id"].unique().to_list() == [42]
            assert user["rank"].to_list() == list(range(1, 11))
    assert len(snippets) == 4
