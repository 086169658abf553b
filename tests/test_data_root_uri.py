"""A data root given as a URI (here a local ``file://`` one, through the same fsspec code an
object store uses): steps work in a local copy, and what they write lands in the store."""

import os
import time

import dagster as dg
import polars as pl

from pipeline.config import RecsysSettings
from pipeline.definitions import ASSETS, CHECKS
from pipeline.resources import DataRoot
from recsys_core.data.mirror import Mirror
from recsys_core.publish.history import runs
from tests.conftest import random_ratings


def run_graph(root: DataRoot) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*ASSETS, *CHECKS],
            instance=instance,
            resources={"data_root": root, "settings": RecsysSettings()},
            raise_on_error=False,
        )


def test_whole_graph_on_a_uri_root_from_two_machines(tmp_path):
    store = tmp_path / "store"
    (store / "raw").mkdir(parents=True)
    random_ratings(n_users=40, n_items=50, seed=4).write_csv(store / "raw" / "r.csv")
    uri = store.as_uri()  # file:///...
    first = DataRoot(root=uri, cache_dir=str(tmp_path / "machine_a"))
    assert run_graph(first).success
    live = store / "published" / "recommendations.parquet"
    assert live.is_file(), "the published table did not reach the store"
    assert pl.read_parquet(live).equals(
        pl.read_parquet(first.base / "published" / "recommendations.parquet")
    )
    assert pl.read_parquet(live)["user_id"].n_unique() == 40
    for part in ("warehouse/ratings.parquet", "models/item_knn.npz", "published/report.html"):
        assert (store / part).is_file(), part
    # a second machine with an empty local copy: reads everything from the store
    second = DataRoot(root=uri, cache_dir=str(tmp_path / "machine_b"))
    assert run_graph(second).success
    assert len(runs(store / "published")) == 2
    assert (tmp_path / "machine_b").exists() and first.base != second.base


def test_fetch_keeps_newer_local_writes_and_push_sends_only_changes(tmp_path):
    store, cache = tmp_path / "store", tmp_path / "cache"
    (store / "warehouse").mkdir(parents=True)
    (store / "warehouse" / "a.txt").write_text("store a")
    (store / "warehouse" / "b.txt").write_text("store b")
    mirror = Mirror(store.as_uri(), cache)
    mirror.fetch("warehouse")
    assert (cache / "warehouse" / "a.txt").read_text() == "store a"
    since = time.time_ns()
    time.sleep(0.01)
    (cache / "warehouse" / "a.txt").write_text("local a, newer")  # this step's write
    mirror.fetch("warehouse/a.txt")
    assert (cache / "warehouse" / "a.txt").read_text() == "local a, newer"
    (store / "warehouse" / "b.txt").write_text("store b v2")  # another machine's write
    future = time.time() + 5
    os.utime(store / "warehouse" / "b.txt", (future, future))
    mirror.fetch("warehouse/b.txt")
    assert (cache / "warehouse" / "b.txt").read_text() == "store b v2"
    assert mirror.push(since) == ["warehouse/a.txt"]
    assert (store / "warehouse" / "a.txt").read_text() == "local a, newer"
    mirror.fetch("missing/file.txt")  # nothing in the store: nothing happens
    assert not (cache / "missing").exists()
