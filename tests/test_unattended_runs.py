"""Unattended nights, faults 6-10: one writer per root, the gate cannot be bypassed, paths stay
inside the root, honest messages, the sensor (see :mod:`tests.test_unattended` for 1-5)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipeline.__main__ import failure_reason
from pipeline.automation import new_raw_file_sensor
from pipeline.resources import DataRoot
from tests.conftest import random_ratings
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
        cursor=cursor,
        resources={"data_root": DataRoot(root=str(root))},
        instance=dg.DagsterInstance.ephemeral(),
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
