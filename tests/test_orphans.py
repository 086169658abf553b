"""Orphaned runs: a SIGKILLed run stays STARTED until the reaper marks it failed, against a real
instance in a temporary DAGSTER_HOME (with the project's one-run-at-a-time coordinator)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from pipeline.orphans import HOST_TAG, PID_TAG, orphan_reaper_sensor, process_problem, reap_orphans
from tests.faults import SLEEPER

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n  config:\n    max_concurrent_runs: 1\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def start_run(home):
    """Start the sleeper job in a subprocess; returns (process, run id) once it is running."""
    children = []

    def start(tags=None):
        child = subprocess.Popen(
            [sys.executable, "-c", SLEEPER, json.dumps(tags or {})],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        children.append(child)
        return child, child.stdout.readline().strip()

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


def kill(child):
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL


def in_progress(instance):
    return instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))


def test_a_killed_run_is_marked_failed_and_frees_its_slot(start_run):
    child, run_id = start_run()
    with dg.DagsterInstance.get() as instance:
        assert reap_orphans(instance) == [], "reaped a live run"
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        kill(child)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        assert reap_orphans(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert in_progress(instance) == [], "the run still counts against max_concurrent_runs"
        failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"pid {child.pid}" in failure[-1].dagster_event.message
        assert reap_orphans(instance) == []


def test_runs_of_another_host_are_left_alone(start_run):
    child, run_id = start_run({HOST_TAG: "elsewhere"})
    kill(child)
    with dg.DagsterInstance.get() as instance:
        assert reap_orphans(instance) == []
        assert reap_orphans(instance, host="elsewhere") == [run_id]


def test_the_pid_tag_wins_over_the_engine_event(start_run):
    child, run_id = start_run({PID_TAG: str(os.getpid())})  # a live process older than the run
    kill(child)
    with dg.DagsterInstance.get() as instance:
        assert reap_orphans(instance) == []
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED


def test_the_sensor_reaps(start_run):
    child, run_id = start_run()
    kill(child)
    with dg.DagsterInstance.get() as instance:
        result = orphan_reaper_sensor(dg.build_sensor_context(instance=instance))
        assert run_id in result.skip_message
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def test_process_problem_tells_live_gone_zombie_and_reused_pids():
    assert process_problem(os.getpid()) is None
    assert "later" in process_problem(os.getpid(), alive_at=0.0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    assert process_problem(child.pid) == "is a zombie"
    child.wait()
    assert process_problem(child.pid) == "is gone"
