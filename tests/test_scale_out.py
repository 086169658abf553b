"""Scale-out: user buckets, the configurable executor, and a bucketed multiprocess run that
publishes exactly what a single-process run publishes."""

import json
import os
import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest

from pipeline.executors import executor_for
from recsys_core.data.buckets import bucket_members, user_buckets
from recsys_core.errors import ConfigError
from recsys_core.publish.history import current_run
from recsys_core.settings import ExecutionSettings, resolve
from tests.conftest import random_ratings
from tests.test_determinism import published_content


@pytest.mark.parametrize("n_buckets", [1, 2, 3, 7])
@pytest.mark.parametrize("string_ids", [False, True])
def test_buckets_partition_the_users(n_buckets, string_ids):
    ids = random_ratings(n_users=200, seed=3, string_ids=string_ids)["user_id"].unique()
    members = [bucket_members(ids, b, n_buckets) for b in range(n_buckets)]
    combined = pl.concat(members)
    assert combined.len() == ids.len()  # disjoint: no id twice
    assert set(combined.to_list()) == set(ids.to_list())  # complete
    if n_buckets > 1:
        assert all(m.len() > 0 for m in members)  # 200 users: no empty bucket


def test_bucket_is_crc32_of_the_id_text():
    # crc32("42") = 841265288, crc32("alice") = 663665735 (zlib), so the buckets never move
    assert user_buckets(pl.Series([42]), 5).tolist() == [841265288 % 5]
    assert user_buckets(pl.Series(["alice"]), 7).tolist() == [663665735 % 7]
    same = user_buckets(pl.Series([42, 42, 7]), 3)
    assert same[0] == same[1] and same.dtype == np.int64


def test_execution_settings_are_checked():
    assert resolve([]).execution == ExecutionSettings()
    with pytest.raises(ConfigError, match=r"execution\.executor"):
        resolve([("f", {"execution": {"executor": "threads"}})])
    with pytest.raises(ConfigError, match="buckets"):
        resolve([("f", {"execution": {"buckets": 0}})])


def test_executor_is_configuration():
    assert executor_for(ExecutionSettings()) is dg.in_process_executor
    multi = executor_for(ExecutionSettings(executor="multiprocess", max_concurrent=3))
    assert multi.name == "multiprocess"
    assert multi.apply_config_mapping({}).value["config"]["max_concurrent"] == 3
    every_core = executor_for(ExecutionSettings(executor="multiprocess"))
    cores = every_core.apply_config_mapping({}).value["config"]["max_concurrent"]
    assert cores == (os.cpu_count() or 1), "max_concurrent 0 means one process per core"


def test_k8s_executor_without_the_package_names_it():
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="dagster-k8s"):
            executor_for(ExecutionSettings(executor="k8s"))
    else:
        assert executor_for(ExecutionSettings(executor="k8s")).name == "k8s"


@pytest.mark.slow
def test_bucketed_multiprocess_run_publishes_the_single_process_table(tmp_path):
    raw = tmp_path / "r.csv"
    random_ratings(n_users=70, n_items=60, seed=8).write_csv(raw)
    tables = {}
    for name, config, home in (
        ("single", "execution: {executor: in_process, buckets: 1}\n", None),
        (
            "multi",
            "execution: {executor: multiprocess, max_concurrent: 2, buckets: 3}\n",
            tmp_path / "home",
        ),
    ):
        root = tmp_path / name
        (root / "raw").mkdir(parents=True)
        shutil.copy(raw, root / "raw" / raw.name)
        tables[name] = published_content(root, 1, config, dagster_home=home)
        run = current_run(root / "published")
        info = json.loads((root / "published" / "history" / run / "run.json").read_text())
        assert info["settings"]["execution"]["buckets"] == (3 if name == "multi" else 1)
    assert tables["multi"].height == 70 * 10
    multi, single = tables["multi"], tables["single"]
    joined = multi.join(single, on=["user_id", "rank"], suffix="_single")
    differ = joined.filter(
        (pl.col("item_id") != pl.col("item_id_single"))
        | (pl.col("score") != pl.col("score_single"))
    )
    assert multi.equals(single), differ  # on failure: the rows that differ
    runs = list((tmp_path / "home" / "history" / "runs").glob("*.db"))
    assert runs, "the multiprocess run was not recorded in its instance"
