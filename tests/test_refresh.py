"""The refresh job on tiny data, one night per module: new files fold into the lists of the
users they touch and nothing else changes (issue 17's acceptance), refreshes chain and roll
back, the sensor starts a refresh, the run queue and the lock keep refreshes and nights apart,
and a killed refresh leaves the live table whole."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from pipeline.__main__ import failure_reason
from pipeline.automation import new_raw_file_sensor, nightly_job, refresh_job
from pipeline.resources import DataRoot
from recsys_core.publish.files import TMP_MARK
from tests.conftest import SMOKE_YAML, random_ratings
from tests.faults import (  # noqa: F401 (fixtures are used by name)
    ROOT,
    cli,
    cli_env,
    current_run,
    holder,
    materialize,
    write_raw,
)

NIGHT = random_ratings(n_users=40, n_items=60, seed=2)
NEW_USER, OLD_USER, N = 9_001, 7, 10
LIVE = Path("published") / "recommendations.parquet"


def arrivals() -> pl.DataFrame:
    """20 ratings by a brand-new user and 3 new ratings by an existing one (raw file columns)."""
    unrated = NIGHT.join(
        NIGHT.filter(pl.col("user_id") == OLD_USER).select("item_id"), on="item_id", how="anti"
    )["item_id"].unique().sort().head(3).to_list()  # fmt: skip
    users = [NEW_USER] * 20 + [OLD_USER] * 3
    items = list(range(101, 121)) + unrated
    ratings = [5.0, 4.0, 3.0, 5.0] * 5 + [5.0, 5.0, 4.0]
    return pl.DataFrame({"user_id": users, "item_id": items, "rating": ratings,
                         "timestamp": [3_000_000] * 23})  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> tuple[Path, float]:
    """A data root after one night, and how long the night took."""
    root = tmp_path_factory.mktemp("night") / "root"
    write_raw(root, NIGHT)
    start = time.perf_counter()
    result = materialize(root, selection=nightly_job.selection)  # the nightly job, no refresh
    assert result.success, failure_reason(result)
    return root, time.perf_counter() - start


@pytest.fixture
def root(night, tmp_path) -> Path:
    """A private copy of the night's data root."""
    copy = tmp_path / "root"
    shutil.copytree(night[0], copy, symlinks=True)
    return copy


def published(root: Path, name: str, run: str | None = None) -> Path:
    return root / "published" / (name if run is None else f"history/{run}/{name}")


def rated(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("user_id", "item_id")


def test_a_refresh_serves_the_new_ratings_and_leaves_every_other_row(root, night, cli_env, capsys):
    cli_env(root)
    first, before = current_run(root), pl.read_parquet(root / LIVE)
    new = arrivals()
    write_raw(root, new, "day1.csv")
    start = time.perf_counter()
    code, out, err = cli(["refresh"], capsys)
    seconds = time.perf_counter() - start
    assert code == 0, err
    assert "2 user list(s) rewritten (1 new users) from 23 new rating(s)" in out, out
    after, run = pl.read_parquet(root / LIVE), current_run(root)
    touched = pl.col("user_id").is_in([NEW_USER, OLD_USER])
    assert after.filter(~touched).equals(before.filter(~touched)), "an untouched row changed"
    fresh = after.filter(touched)
    assert fresh.group_by("user_id").len().sort("user_id").rows() == [(OLD_USER, N), (NEW_USER, N)]
    assert fresh.join(
        rated(pl.concat([NIGHT, new])), on=["user_id", "item_id"], how="semi"
    ).is_empty()
    assert set(fresh["run_id"]) == {run} != {first} and set(after["model_run_id"]) == {first}
    assert seconds < night[1] / 3, f"refresh {seconds:.1f} s, night {night[1]:.1f} s"
    record = json.loads(published(root, "run.json").read_text())
    assert record["kind"] == "refresh" and record["model_run_id"] == first
    assert {k: record["refresh"][k] for k in ("files", "new_ratings", "users_refreshed")} == {
        "files": {"day1.csv": 23}, "new_ratings": 23, "users_refreshed": 2}  # fmt: skip
    assert "Refreshes since the night" in published(root, "report.html").read_text()
    for name in ("default_list.parquet", "metrics.parquet", "similar_items.parquet"):
        assert published(root, name).read_bytes() == published(root, name, first).read_bytes()
    code, out, _ = cli(["refresh"], capsys)  # nothing new since: nothing published
    assert code == 0 and "nothing published (no new ratings in raw/)" in out, out
    assert current_run(root) == run
    code, out, _ = cli(["runs"], capsys)
    assert "(refresh)  (live)" in next(line for line in out.splitlines() if run in line)
    code, _, err = cli(["rollback", first], capsys)
    assert code == 0, err
    assert (root / LIVE).read_bytes() == published(root, LIVE.name, first).read_bytes()


def test_refreshes_chain_roll_back_and_quarantine_like_the_ingest(root, cli_env, capsys):
    cli_env(root)
    write_raw(root, arrivals(), "day1.csv")
    assert cli(["refresh"], capsys)[0] == 0
    one, after_one = current_run(root), pl.read_parquet(root / LIVE)
    mine = pl.col("user_id") == NEW_USER
    top = after_one.filter(mine & (pl.col("rank") == 1))["item_id"].item()
    (root / "rules").mkdir()  # a business rule from now on: the new user's top item is out
    (root / "rules" / "exclude_items.csv").write_text(f"item_id\n{top}\n")
    rated_now = [item for item in range(121, 161) if item != top][:20]
    lines = [f"{NEW_USER},{item},5,3000001" for item in rated_now] + [f"{NEW_USER},{top},x,1"]
    (root / "raw" / "day2.csv").write_text("\n".join(["user_id,item_id,rating,timestamp", *lines]))
    code, out, err = cli(["refresh"], capsys)
    assert code == 0 and "1 user list(s) rewritten" in out, out + err
    two, after_two = current_run(root), pl.read_parquet(root / LIVE)
    quarantined = pl.read_parquet(root / "warehouse" / "refresh_quarantine.parquet")
    where = quarantined.select(pl.col("file").str.split("/").list.last(), "line").rows()
    assert where == [("day2.csv", 22)]  # 1 of 21 rows (4.8%): under max_bad_fraction
    assert after_two.filter(~mine).equals(after_one.filter(~mine))  # OLD_USER keeps refresh one
    assert set(after_two.filter(mine)["run_id"]) == {two}
    assert after_two.filter(mine)["item_id"].is_in(rated_now).sum() == 0
    assert top not in after_two.filter(mine)["item_id"], "a refreshed list broke a rule"
    assert published(root, "report.html").read_text().count(f"<td class='txt'>{one}") == 1
    assert cli(["rollback", one], capsys)[0] == 0  # the next refresh builds on refresh one again
    code, out, _ = cli(["refresh"], capsys)
    assert code == 0 and "1 user list(s) rewritten" in out, out
    assert pl.read_parquet(root / LIVE).drop("run_id", "generated_at").equals(
        after_two.drop("run_id", "generated_at"))  # fmt: skip


def queued(job: dg.JobDefinition) -> DagsterRun:
    """A queued run of ``job`` as a sensor or schedule submits it (its tags, a code origin)."""
    code = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="pipeline"))
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(code, "__repository__"), job.name)
    status = dg.DagsterRunStatus.QUEUED
    return DagsterRun(job_name=job.name, status=status, tags=job.tags, remote_job_origin=origin)


def _tick(root: Path, instance: dg.DagsterInstance, cursor: str | None = None):
    resources = {"data_root": DataRoot(root=str(root))}
    with dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance) as ctx:
        return new_raw_file_sensor(ctx)


def _settled(root: Path, instance: dg.DagsterInstance):
    """Two ticks over files made quiet: the second one is where a run starts."""
    past = time.time() - 300
    for path in (root / "raw").iterdir():
        os.utime(path, (past, past))
    return _tick(root, instance, _tick(root, instance).cursor)


def test_the_sensor_starts_a_refresh_when_a_night_is_live_and_nothing_while_one_runs(
    root, tmp_path
):
    fresh = tmp_path / "fresh"
    write_raw(fresh, NIGHT)
    with dg.instance_for_test() as instance:
        (first,) = _settled(fresh, instance).run_requests
        assert first.job_name == nightly_job.name, "no night yet: the first run is a night"
        write_raw(root, arrivals(), "day1.csv")
        (request,) = _settled(root, instance).run_requests
        assert request.job_name == refresh_job.name
        instance.add_run(queued(nightly_job))
        waiting = _settled(root, instance)
        assert not waiting.run_requests and "queued or running" in waiting.skip_reason.skip_message


def test_the_run_queue_never_starts_a_refresh_beside_a_night_and_a_night_goes_first(tmp_path):
    """The project's run queue (dagster_home/dagster.yaml) as the daemon's own dequeue step
    reads it: queued runs are created in the order a sensor and a schedule would."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()

        instance.add_run(queued(refresh_job))
        night = instance.add_run(queued(nightly_job))
        dequeued = daemon._get_runs_to_dequeue(instance, config, None)
        assert [r.run_id for r in dequeued] == [night.run_id], "the night leaves the queue first"
        instance.delete_run(night.run_id)
        started = DagsterRun(
            job_name="nightly", status=dg.DagsterRunStatus.STARTED, tags=night.tags
        )
        instance.add_run(started)  # the night runs: the refresh waits
        assert daemon._get_runs_to_dequeue(instance, config, None) == []
        limits = config.run_queue_config.tag_concurrency_limits
        assert {"key": "recsys/writer", "limit": 1} in limits, "writers are limited by tag too"


def test_a_refresh_fails_at_once_while_a_night_holds_the_lock(root, holder, cli_env, capsys):
    cli_env(root)
    write_raw(root, arrivals(), "day1.csv")
    before = (root / LIVE).read_bytes()
    child = holder(root)
    code, _, err = cli(["refresh"], capsys)
    assert code == 1 and "another run" in err and f"pid {child.pid}" in err, err
    assert (root / LIVE).read_bytes() == before


@pytest.mark.slow
def test_a_killed_refresh_leaves_the_live_table_whole_and_the_next_one_succeeds(
    root, cli_env, capsys
):
    write_raw(root, arrivals(), "day1.csv")
    (root / "recsys.yaml").write_text(SMOKE_YAML)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "RECSYS_CONFIG")}
    env |= {"RECSYS_DATA_DIR": str(root), "RECSYS_CONFIG": str(root / "recsys.yaml"),
            "RECSYS_FAILPOINT": "before-rename:published/recommendations.parquet",
            "PYTHONPATH": str(ROOT)}  # fmt: skip
    before, night = (root / LIVE).read_bytes(), current_run(root)
    killed = subprocess.run([sys.executable, "-m", "pipeline", "refresh"], cwd=ROOT, env=env,
                            capture_output=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert (root / LIVE).read_bytes() == before and current_run(root) == night
    assert list(root.rglob(f"{TMP_MARK}*")), "expected the interrupted write's temporary file"
    cli_env(root)
    code, _, err = cli(["refresh"], capsys)
    assert code == 0, err
    assert current_run(root) != night and not list(root.rglob(f"{TMP_MARK}*"))
