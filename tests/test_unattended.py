"""Unattended nights, faults 1-5: never publish the wrong data, never stall, always say why.

One test (or one parametrized test) per fault of the issue, each written against the NEW
behaviour: where nothing should be published the live table stays byte-identical, a failed run
says why in one line (``failure_reason``), and a dead run never holds the queue. Helpers and the
tiny published data root: :mod:`tests.faults`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from pipeline.__main__ import DEMO_FILE, failure_reason
from pipeline.orphans import reap_orphans
from tests.conftest import SMOKE_YAML, random_ratings
from tests.faults import (  # noqa: F401 (fixtures are used by name)
    HOLDER,
    LIST_DEFINITIONS,
    LIVE,
    ROOT,
    SECRET,
    SLEEPER,
    cli,
    cli_env,
    current_run,
    event_texts,
    holder,
    live,
    live_bytes,
    materialize,
    published_root,
    run_settings,
    succeeded_steps,
    tree,
    write_raw,
)

# -- 1. an emptied raw/ ----------------------------------------------------------------------
EMPTIED = {
    "no_file": ({}, 0),
    "hidden_part_upload": ({".x.csv.part": b"user_id,item_id,rating\n1,101,4\n"}, 1),
    "only_a_subfolder": ({"sub/r.csv": b"user_id,item_id,rating\n1,101,4\n"}, None),
}


@pytest.mark.parametrize("case", EMPTIED)
def test_1_emptied_raw_fails_writes_nothing_and_keeps_the_live_table(live, case):
    contents, skipped = EMPTIED[case]
    shutil.rmtree(live / "raw")
    (live / "raw").mkdir()
    for name, data in contents.items():
        (live / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (live / "raw" / name).write_bytes(data)
    before, raw_before = live_bytes(live), tree(live / "raw")
    result = materialize(live)
    assert not result.success, "a run over an emptied raw/ succeeded"
    assert tree(live / "raw") == raw_before, "the run wrote into raw/"
    assert live_bytes(live) == before, "a failed run changed the live files"
    reason = failure_reason(result)
    found = re.search(
        rf"no rating files in {re.escape(str(live))}/raw \((\d+) hidden or partial files skipped\)",
        reason,
    )
    assert found, f"unexpected reason: {reason}"
    if skipped is not None:
        assert int(found.group(1)) == skipped, reason


@pytest.mark.parametrize("used", ["warehouse", "published"])
def test_1_demo_is_refused_on_a_root_that_holds_a_warehouse_or_published_tables(
    live, used, cli_env, capsys
):
    shutil.rmtree(live / "raw")
    (live / "raw").mkdir()
    shutil.rmtree(live / ({"warehouse", "published"} - {used}).pop())
    cli_env(live)
    before = live_bytes(live)
    code, _, err = cli(["run", "--demo"], capsys)
    assert code != 0, "run --demo on a used data root was not refused"
    assert "refused" in err and used in err, err
    assert tree(live / "raw") == {}, "demo data was written into a used data root"
    assert live_bytes(live) == before


# -- 2. a mistyped RECSYS_DATA_DIR -----------------------------------------------------------
def test_2_a_mistyped_data_dir_fails_naming_the_missing_raw_files(tmp_path, cli_env, capsys):
    typo = tmp_path / "dta"
    typo.mkdir()
    cli_env(typo)
    code, _, err = cli(["run"], capsys)
    assert code != 0, "a run over an empty data root succeeded"
    assert f"no rating files in {typo}/raw" in err, err
    assert not (typo / "raw" / DEMO_FILE).exists(), "demo data was invented"
    assert not list((typo / "raw").glob("*")) if (typo / "raw").exists() else True
    assert not (typo / "published").exists(), "something was published"


# -- 3. id types -----------------------------------------------------------------------------
def test_3_one_odd_id_is_a_blocking_type_change_unless_allowed(live):
    header = "user_id,item_id,rating,timestamp\n"
    (live / "raw" / "zz_new.csv").write_text(header + "u42,101,4,1500000\n")
    before = live_bytes(live)
    result = materialize(live)
    assert not result.success, "an Int64 -> String id change was published"
    failed = {c.check_name for c in result.get_asset_check_evaluations() if not c.passed}
    assert "drift_id_types" in failed, failed
    reason = failure_reason(result)
    assert "drift_id_types" in reason and "Int64" in reason and "String" in reason, reason
    assert live_bytes(live) == before, "the blocked run changed the live files"
    allowed = materialize(live, run_settings({"publish": {"allow_changes": ["id_types"]}}))
    assert allowed.success, failure_reason(allowed)
    table = pl.read_parquet(live / "published" / "recommendations.parquet")
    assert table.schema["user_id"] == pl.String and "u42" in set(table["user_id"])
    assert current_run(live) == allowed.run_id


INGEST = "key:raw_files or key:ratings or key:quarantine or key:ingest_summary"


def ingested(root: Path) -> pl.DataFrame:
    result = materialize(root, selection=INGEST)
    assert result.success, failure_reason(result)
    return pl.read_parquet(root / "warehouse" / "ratings.parquet")


def test_3_quoted_and_unquoted_ids_are_one_user(tmp_path):
    frame = random_ratings(n_users=40, n_items=60, seed=3, string_ids=True)
    frame = frame.sample(fraction=1.0, shuffle=True, seed=3)  # every user in both files
    half = frame.height // 2

    def lines(rows: pl.DataFrame, quote: str) -> str:
        body = [f"{quote}{u}{quote},{i},{r},{t}" for u, i, r, t in rows.iter_rows()]
        return "\n".join(["user_id,item_id,rating,timestamp", *body]) + "\n"

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text(lines(frame.head(half), '"'))
    (tmp_path / "raw" / "b.csv").write_text(lines(frame.tail(frame.height - half), ""))
    assert '"u1",' in (tmp_path / "raw" / "a.csv").read_text()
    ratings = ingested(tmp_path)
    assert ratings.height == frame.height
    assert not ratings["user_id"].str.contains('"').any(), "quotes kept as part of an id"
    assert ratings["user_id"].n_unique() == frame["user_id"].n_unique()


def test_3_float_ids_in_parquet_and_integer_ids_in_csv_are_one_user(tmp_path):
    frame = random_ratings(n_users=40, n_items=60, seed=4)
    half = frame.height // 2
    (tmp_path / "raw").mkdir()
    frame.head(half).with_columns(
        pl.col("user_id").cast(pl.Float64), pl.col("item_id").cast(pl.Float64)
    ).write_parquet(tmp_path / "raw" / "a.parquet")
    frame.tail(frame.height - half).write_csv(tmp_path / "raw" / "b.csv")
    ratings = ingested(tmp_path)
    assert ratings["user_id"].n_unique() == frame["user_id"].n_unique()
    assert ratings["item_id"].n_unique() == frame["item_id"].n_unique()
    assert ratings.schema["user_id"] == pl.Int64, ratings.schema
    assert ratings.height == frame.height


# -- 4. a killed run -------------------------------------------------------------------------
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


@pytest.mark.slow
def test_4_a_killed_run_is_reaped_and_the_next_run_starts(
    live, home, monkeypatch, capsys, tmp_path
):
    child = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        killed = child.stdout.readline().strip()
        assert killed, "the sleeper run did not start"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
        assert reap_orphans(instance) == [killed]
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        slots = instance.get_concurrency_config().run_queue_config.max_concurrent_runs
        in_progress = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
        assert len(in_progress) < slots, "the dead run still holds the only slot"
    # the CLI reaps before it runs, and its run completes on the same instance
    (tmp_path / "lenient.yaml").write_text(SMOKE_YAML)  # random ratings: relative gate off
    monkeypatch.setenv("RECSYS_CONFIG", str(tmp_path / "lenient.yaml"))
    monkeypatch.setenv("RECSYS_DATA_DIR", str(live))
    child = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        second = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    code, _, err = cli(["run", "--force"], capsys)  # the live run's input: force a night
    assert code == 0, err
    assert f"run {second} had died" in err, err
    with dg.DagsterInstance.get() as instance:
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert started == [], "a run was left STARTED"
        assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.FAILURE


# -- 5. a bad project file -------------------------------------------------------------------
BAD_FILES = {"topn_n_zero": ("topn: {n: 0}\n", "topn.n"), "unknown_key": ("topn: {nn: 3}\n", "nn")}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_FILES)
def test_5_a_bad_project_file_keeps_the_code_location_up(tmp_path, case):
    text, _ = BAD_FILES[case]
    bad = tmp_path / "recsys.yaml"
    bad.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECSYS_CONFIG": str(bad)}
    env.pop("DAGSTER_HOME", None)
    loaded = subprocess.run(
        [sys.executable, "-c", LIST_DEFINITIONS],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    listed = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert {"nightly", "tuning"} <= set(listed["jobs"])
    assert listed["schedules"] == ["nightly_schedule"]
    assert {"new_raw_file_sensor", "orphan_reaper_sensor"} <= set(listed["sensors"])


@pytest.mark.parametrize("case", BAD_FILES)
def test_5_a_run_with_a_bad_project_file_fails_at_its_first_step_naming_the_key(
    live, case, monkeypatch, tmp_path, capsys
):
    text, key = BAD_FILES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    monkeypatch.setenv("RECSYS_CONFIG", str(bad))
    before = live_bytes(live)
    result = materialize(live)
    assert not result.success
    reason = failure_reason(result)
    assert key in reason and str(bad) in reason, reason
    assert succeeded_steps(result) == [], "steps ran before the bad settings stopped the run"
    assert live_bytes(live) == before
    monkeypatch.delenv("RECSYS_CONFIG")
    code, _, err = cli(["config", str(bad)], capsys)
    assert code != 0 and key in err, err
