"""Scale-out: user buckets, the configurable executor, and runs whose steps execute in other
processes publishing what a single-process run publishes: the whole night on a local Dask
cluster of worker processes (3 buckets), and the top-N buckets under the multiprocess executor
(2 buckets), both against one in-process night (1 bucket).

The module shares one in-process night and one Dask night. The Dask night passes every value
between processes through the IO manager's files, which is what a whole multiprocess night also
proved (at 2-3 s of process start per step it cost ~90 s, and 4 minutes under load); the
multiprocess executor itself runs what it parallelises, the bucket steps and their combination,
over the Dask night's stored values."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from pipeline.executors import dask_cluster, executor_for
from recsys_core.data.buckets import bucket_members, user_buckets
from recsys_core.errors import ConfigError
from recsys_core.publish.history import current_run
from recsys_core.sections import DaskSettings
from recsys_core.settings import ExecutionSettings, resolve
from tests.conftest import SMOKE_YAML, random_ratings
from tests.test_determinism import CONTENT, ROOT, published_content
from tests.test_pipeline import materialize


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
    for bad, key in (
        ({"scheduler": "http://host"}, "execution.dask.scheduler"),
        ({"scheduler": "tcp://host"}, "execution.dask.scheduler"),  # no port
        ({"n_workers": -1}, "execution.dask.n_workers"),
        ({"memory_limit_gib": 0}, "execution.dask.memory_limit_gib"),
        ({"workers": 2}, "execution.dask.n_workers"),  # unknown key: the closest is named
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            resolve([("f", {"execution": {"executor": "dask", "dask": bad}})])


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


def test_dask_cluster_is_the_scheduler_or_a_local_cluster_of_processes():
    remote = DaskSettings(scheduler="tcp://10.0.0.5:8786", n_workers=8)
    assert dask_cluster(remote) == {"existing": {"address": "tcp://10.0.0.5:8786"}}
    local = dask_cluster(DaskSettings(n_workers=3, memory_limit_gib=1.5))["local"]
    assert local["n_workers"] == 3 and local["processes"] is True
    assert local["threads_per_worker"] == 1
    assert local["memory_limit"] == 1610612736  # 1.5 * 1024**3 bytes
    assert dask_cluster(DaskSettings())["local"]["n_workers"] == (os.cpu_count() or 1)
    assert "memory_limit" not in dask_cluster(DaskSettings())["local"], "Dask's default"


def test_dask_executor_without_the_package_names_it():
    try:
        import dagster_dask  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="dagster-dask"):
            executor_for(ExecutionSettings(executor="dask"))
    else:
        dask = executor_for(ExecutionSettings(executor="dask", dask=DaskSettings(n_workers=2)))
        assert dask.name == "dask"
        cluster = dask.apply_config_mapping({}).value["config"]["cluster"]
        assert cluster["local"]["n_workers"] == 2


DASK = "execution: {executor: dask, dask: {n_workers: 2}, buckets: 3}\n"
MULTIPROCESS = "execution: {executor: multiprocess, max_concurrent: 2, buckets: 2}\n"


def _home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


def _step_pids(home: Path) -> tuple[dict[str, int], int]:
    """The pid that ran each step of the instance's only run, and the run's own pid."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    steps = {e.step_key: e.pid for e in events if e.event_type_value == "STEP_SUCCESS"}
    (driver,) = {e.pid for e in events if e.event_type_value == "PIPELINE_START"}
    return steps, driver


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict[str, Path]:
    """The same ratings published by an in-process night (one bucket) and by a night on a
    local Dask cluster of 2 worker processes (3 buckets); name -> data root."""
    base = tmp_path_factory.mktemp("scale_out")
    raw = base / "r.csv"
    random_ratings(n_users=70, n_items=60, seed=8).write_csv(raw)
    roots = {name: base / name for name in ("single", "dask")}
    for root in roots.values():
        (root / "raw").mkdir(parents=True)
        shutil.copy(raw, root / "raw" / raw.name)
    assert materialize(roots["single"]).success  # in this process: no second start-up
    published_content(roots["dask"], 1, DASK, dagster_home=_home(base / "home_dask"))
    return roots


def _content(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path).select(CONTENT)


def _same_lists(table: pl.DataFrame, single: pl.DataFrame) -> None:
    """Same users, ranks and items (and sources, explanations); scores equal to 1e-12."""
    assert table.height == single.height == 70 * 10
    ids = [c for c in CONTENT if c != "score"]
    assert table.select(ids).equals(single.select(ids)), table.join(
        single, on=["user_id", "rank"], suffix="_single"
    ).filter(pl.col("item_id") != pl.col("item_id_single"))
    assert np.allclose(table["score"], single["score"], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_dask_night_on_worker_processes_publishes_the_single_process_table(nights):
    published = nights["dask"] / "published"
    _same_lists(
        _content(published / "recommendations.parquet"),
        _content(nights["single"] / "published" / "recommendations.parquet"),
    )
    info = json.loads((published / "history" / current_run(published) / "run.json").read_text())
    assert info["settings"]["execution"]["executor"] == "dask"
    assert info["settings"]["execution"]["buckets"] == 3
    steps, driver = _step_pids(nights["dask"].parent / "home_dask")
    assert {f"recommendations.rank_bucket_{b}" for b in range(3)} <= set(steps)
    assert driver not in steps.values(), "a step ran in the driver, not on a Dask worker"


@pytest.mark.slow
def test_multiprocess_buckets_stage_the_single_process_table(nights, tmp_path):
    root = tmp_path / "multi"
    shutil.copytree(nights["dask"], root)  # the Dask night's stored values (3 buckets)
    staged = root / "warehouse" / "recommendations.parquet"
    staged.unlink()
    (root / "recsys.yaml").write_text(MULTIPROCESS + SMOKE_YAML)
    home = _home(tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if k != "RECSYS_FAILPOINT"}
    env |= {"RECSYS_DATA_DIR": str(root), "RECSYS_CONFIG": str(root / "recsys.yaml")}
    env |= {"DAGSTER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", RANK_ONLY], cwd=ROOT, env=env,
                         capture_output=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    _same_lists(
        _content(staged), _content(nights["single"] / "published" / "recommendations.parquet")
    )
    steps, driver = _step_pids(home)
    assert set(steps) == {f"recommendations.{op}" for op in RANK_OPS}, "only the ranking ran"
    assert driver not in steps.values()
    assert len(set(steps.values())) == 3, "one child process per step"


RANK_ONLY = """
import dagster as dg
from pipeline.definitions import nightly
job = dg.reconstructable(nightly).get_subset(
    asset_selection={dg.AssetKey("recommendations")}, asset_check_selection=set()
)
raise SystemExit(0 if dg.execute_job(job, dg.DagsterInstance.get()).success else 1)
"""
"""Materializes only ``recommendations`` (the bucket steps and their combination, not its
checks) with the configured executor, over the stored upstream values."""
RANK_OPS = ("rank_bucket_0", "rank_bucket_1", "stage_recommendations")
