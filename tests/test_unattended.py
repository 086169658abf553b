"""Unattended nights: never publish the wrong data, never stall, always say why.

One test (or one parametrized test) per fault of the issue, each written against the NEW
behaviour: where nothing should be published the live table stays byte-identical, a failed run
says why in one line (``failure_reason``), and a dead run never holds the queue. The runs use a
tiny data root (40 users, 60 items); one published run is built once per module and copied into
each test that needs a live table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from pipeline.__main__ import DEMO_FILE, failure_reason, main
from pipeline.automation import new_raw_file_sensor
from pipeline.definitions import ASSETS, CHECKS, resources
from pipeline.orphans import reap_orphans
from pipeline.resources import DataRoot
from tests.conftest import NO_LIFT, NO_LIFT_YAML, random_ratings

ROOT = Path(__file__).resolve().parents[1]
LIVE = ("recommendations.parquet", "metrics.parquet", "report.html", "run.json", "CURRENT.json")
SECRET = "SECRET-LINE-do-not-print-7f3a9c"
HOLDER = """
import sys
from pipeline.lock import hold_lock
with hold_lock(sys.argv[1], "another run"):
    print("held", flush=True)
    sys.stdin.read()  # hold until killed
"""
SLEEPER = """
import json, sys
import dagster as dg

@dg.op
def wait(context):
    print(context.run_id, flush=True)
    sys.stdin.read()  # "sleeps" until killed

@dg.job
def sleeper():
    wait()

sleeper.execute_in_process(instance=dg.DagsterInstance.get())
"""
LIST_DEFINITIONS = """
import json
import pipeline.definitions as d
repo = d.defs.get_repository_def()
print(json.dumps({
    "jobs": sorted(repo.job_names),
    "schedules": sorted(s.name for s in repo.schedule_defs),
    "sensors": sorted(s.name for s in repo.sensor_defs),
}))
"""


# -- helpers ---------------------------------------------------------------------------------
def materialize(
    root: Path,
    run_config: dict | None = None,
    selection: str | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """The whole graph (or ``selection``) over ``root``, on ``instance`` or a test instance."""
    if instance is None:
        with dg.instance_for_test() as fresh:
            return materialize(root, run_config, selection, fresh)
    config = run_config or run_settings({})
    sections = config["resources"]["settings"]["config"]
    publish = {**NO_LIFT["publish"], **sections.get("publish", {})}
    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources=resources(str(root)),
        run_config=run_settings({**sections, "publish": publish}),
        selection=selection,
        raise_on_error=False,
    )


def run_settings(sections: dict) -> dict:
    return {"resources": {"settings": {"config": sections}}}


def write_raw(root: Path, frame: pl.DataFrame, name: str = "r.csv") -> None:
    (root / "raw").mkdir(parents=True, exist_ok=True)
    frame.write_csv(root / "raw" / name)


def live_bytes(root: Path) -> dict[str, bytes | None]:
    """The live files of ``root`` (None: absent), to compare byte for byte."""
    published = root / "published"
    return {n: (published / n).read_bytes() if (published / n).is_file() else None for n in LIVE}


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (recursively): file bytes, or 'dir'/'link -> target'."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        key = os.fsencode(path.relative_to(folder)).decode("latin-1")
        if path.is_symlink():
            found[key] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = path.read_bytes()
    return found


def current_run(root: Path) -> str:
    return json.loads((root / "published" / "CURRENT.json").read_text())["run_id"]


def succeeded_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.is_step_success]


def event_texts(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every message and every event's data of a run, as one text (what a log could show)."""
    texts = []
    for entry in instance.all_logs(run_id):
        texts.append(entry.user_message or "")
        if entry.dagster_event is not None:
            texts.append(entry.dagster_event.message or "")
            texts.append(repr(entry.dagster_event.event_specific_data))
    return "\n".join(texts)


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``python -m pipeline ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse, or a refusal raised as SystemExit("why")
        code = exc.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """A clean environment for the CLI: no project file, no DAGSTER_HOME; returns a setter
    for RECSYS_DATA_DIR."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("RECSYS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recsys.yaml").write_text(NO_LIFT_YAML)  # random ratings: relative gate off

    def use(root: Path) -> None:
        monkeypatch.setenv("RECSYS_DATA_DIR", str(root))

    return use


@pytest.fixture(scope="module")
def published_root(tmp_path_factory) -> Path:
    """A data root after one successful run (Int64 ids): built once, copied by ``live``."""
    root = tmp_path_factory.mktemp("published") / "root"
    write_raw(root, random_ratings(n_users=40, n_items=60, seed=2))
    result = materialize(root)
    assert result.success, failure_reason(result)
    return root


@pytest.fixture
def live(published_root, tmp_path) -> Path:
    """A private copy of a data root whose first run is live."""
    root = tmp_path / "root"
    shutil.copytree(published_root, root, symlinks=True)
    return root


@pytest.fixture
def holder(request):
    """Start a separate process holding the lock of a data root: ``holder(root)``."""
    children = []

    def start(root: Path) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout.readline() == "held\n"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


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
    (tmp_path / "lenient.yaml").write_text(NO_LIFT_YAML)  # random ratings: relative gate off
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
    code, _, err = cli(["run"], capsys)
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


# -- 6. one writer per data root -------------------------------------------------------------
@pytest.mark.slow
def test_6_a_held_lock_stops_runs_and_rollback_naming_the_holder(live, holder, cli_env, capsys):
    child = holder(live)
    before = live_bytes(live)
    blocked = materialize(live)
    assert not blocked.success, "a run wrote while another process held the lock"
    reason = failure_reason(blocked)
    assert "another run" in reason and f"pid {child.pid}" in reason, reason
    assert succeeded_steps(blocked) == [], "steps ran without the lock"
    assert live_bytes(live) == before
    cli_env(live)
    code, _, err = cli(["rollback", current_run(live)], capsys)
    assert code != 0 and "refused" in err, err
    assert "another run" in err and f"pid {child.pid}" in err, err
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    result = materialize(live)
    assert result.success, failure_reason(result)
    assert current_run(live) == result.run_id


# -- 7. the gate cannot be bypassed ----------------------------------------------------------
DOWNSTREAM = {
    "all_downstream": "key:recommendations or key:run_record or key:report or "
    "key:published_recommendations",
    "publish_only": "key:published_recommendations",
    "report_and_publish": "key:run_record or key:report or key:published_recommendations",
}


def test_7_a_subset_run_after_a_failed_gate_publishes_nothing(live, tmp_path):
    before = live_bytes(live)
    published_before = tmp_path / "published-before"
    shutil.copytree(live / "published", published_before)
    with dg.instance_for_test() as instance:
        gated = materialize(live, run_settings({"publish": {"min_ndcg": 0.999}}), None, instance)
        assert not gated.success
        failed = {c.check_name for c in gated.get_asset_check_evaluations() if not c.passed}
        assert failed == {"quality_gate"}, failed
        assert live_bytes(live) == before
        problems = []  # every subset is tried, so the report names each one that slips through
        for name, selection in DOWNSTREAM.items():
            result = materialize(live, None, selection, instance)
            reason = "" if result.success else failure_reason(result)
            if live_bytes(live) != before:
                problems.append(f"{name}: changed the live files (success={result.success})")
                shutil.rmtree(live / "published")
                shutil.copytree(published_before, live / "published")
            elif result.success:
                problems.append(f"{name}: succeeded without the gate")
            elif "quality_gate" not in reason or "this run" not in reason:
                problems.append(f"{name}: reason does not say the gate did not pass: {reason}")
        assert not problems, "; ".join(problems)


# -- 8. paths --------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["../x", "../../x", "abs"])
def test_8_rollback_to_a_path_is_refused(live, target, cli_env, capsys):
    for folder in (live / "published" / "x", live / "x"):
        folder.mkdir()
        for name in ("recommendations.parquet", "metrics.parquet"):
            shutil.copy(live / "published" / name, folder / name)
    cli_env(live)
    before = live_bytes(live)
    arg = str(live / "x") if target == "abs" else target
    code, _, err = cli(["rollback", arg], capsys)
    assert code != 0 and "refused" in err, err
    assert live_bytes(live) == before


def test_8_a_symlink_out_of_the_root_is_refused_without_leaking_the_target(live, tmp_path):
    outside = tmp_path / "outside" / "secret.csv"
    outside.parent.mkdir()
    outside.write_text(f"{SECRET}\n")
    (live / "raw" / "zz_link.csv").symlink_to(outside)
    before = live_bytes(live)
    with dg.instance_for_test() as instance:
        result = materialize(live, instance=instance)
        texts = event_texts(instance, result.run_id) + "\n" + failure_reason(result)
    assert "zz_link.csv" in texts, "the symlink was used or skipped without a word"
    leaks = [line for line in texts.splitlines() if SECRET in line]
    assert not leaks, f"the outside file's content reached the run's messages: {leaks[0][:300]}"
    quarantine = live / "warehouse" / "quarantine.parquet"
    if quarantine.exists():
        raw = pl.read_parquet(quarantine)["raw"].cast(pl.String).fill_null("")
        assert not raw.str.contains(SECRET).any(), "the outside file's line was quarantined"
    for path in live.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix in (".json", ".html"):
            assert SECRET not in path.read_text(errors="replace"), f"leaked into {path}"
    if not result.success:
        assert live_bytes(live) == before


# -- 9. honest messages ----------------------------------------------------------------------
@pytest.mark.slow
def test_9_rollback_restores_every_live_file_and_runs_lists_them(live, cli_env, capsys):
    first = current_run(live)
    changed = {"topn": {"n": 3}, "publish": {"allow_changes": ["rows_drop"]}}
    second = materialize(live, run_settings(changed))
    assert second.success, failure_reason(second)
    assert current_run(live) == second.run_id
    cli_env(live)
    code, _, err = cli(["rollback", first[:8]], capsys)
    assert code == 0, err
    history = live / "published" / "history" / first
    for name in ("recommendations.parquet", "metrics.parquet", "report.html", "run.json"):
        assert (live / "published" / name).read_bytes() == (history / name).read_bytes(), name
    assert current_run(live) == first
    assert json.loads((live / "published" / "run.json").read_text())["run_id"] == first
    code, out, _ = cli(["runs"], capsys)
    assert code == 0
    rows = out.splitlines()
    lines = {run: next(r for r in rows if run in r) for run in (first, second.run_id)}
    for run, line in lines.items():
        record = json.loads((live / "published" / "history" / run / "run.json").read_text())
        assert record["date"] in line, line
        assert f"{record['ratings']:,}" in line, line
        assert f"{record['ndcg']:.4f}" in line, line
        assert record["gate"] == "passed" and "passed" in line, line
    assert "live" in lines[first] and "live" not in lines[second.run_id], out


def test_9_a_latin1_file_name_is_read_or_named(live):
    name = os.fsdecode(b"caf\xe9.csv")
    extra = random_ratings(n_users=40, n_items=60, seed=5).head(20)
    with open(os.fsencode(live / "raw" / name), "wb") as fh:
        extra.write_csv(fh)
    before = live_bytes(live)
    result = materialize(live)
    if not result.success:
        reason = failure_reason(result)
        assert repr(b"caf\xe9.csv") in reason, f"the failure does not name the file: {reason}"
        assert live_bytes(live) == before
    else:
        record = json.loads((live / "published" / "run.json").read_text())
        assert len(record["inputs"]) == 2, record["inputs"]


# -- 10. the sensor --------------------------------------------------------------------------
def _tick(root: Path, cursor: str | None):
    with dg.build_sensor_context(
        cursor=cursor, resources={"data_root": DataRoot(root=str(root))}
    ) as context:
        return new_raw_file_sensor(context)


def _write(path: Path, text: str, age: float) -> None:
    path.write_text(text)
    past = time.time() - age
    os.utime(path, (past, past))


def _settle(root: Path, cursor: str | None):
    """Two ticks over quiet files: the second one is where a run starts."""
    return _tick(root, _tick(root, cursor).cursor)


def test_10_a_file_reverted_to_earlier_content_starts_a_new_run(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    first_text, second_text = "user,item,rating\n1,2,3\n", "user,item,rating\n1,2,4\n2,3,5\n"
    _write(raw / "a.csv", first_text, 300)
    first = _settle(tmp_path, None)
    _write(raw / "a.csv", second_text, 200)
    second = _settle(tmp_path, first.cursor)
    _write(raw / "a.csv", first_text, 100)
    reverted = _settle(tmp_path, second.cursor)
    keys = [r.run_requests[0].run_key for r in (first, second, reverted) if r.run_requests]
    assert len(keys) == 3, "a change (or the revert) started no run"
    assert len(set(keys)) == 3, f"a run key repeated, so Dagster would skip the run: {keys}"


def test_10_a_growing_file_starts_nothing_until_quiet_at_two_ticks(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    path = raw / "a.csv"
    _write(path, "user,item,rating\n1,2,3\n", 300)
    seen = _tick(tmp_path, None)
    assert not seen.run_requests
    with path.open("a") as fh:  # still growing; its mtime is made old on purpose
        fh.write("2,3,4\n")
    past = time.time() - 300
    os.utime(path, (past, past))
    grown = _tick(tmp_path, seen.cursor)
    assert not grown.run_requests, "a run started on a file that grew between ticks"
    quiet = _tick(tmp_path, grown.cursor)
    assert len(quiet.run_requests) == 1, "no run once the file was quiet at two ticks"
    assert not _tick(tmp_path, quiet.cursor).run_requests, "a second run for the same content"
