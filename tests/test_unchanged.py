"""Unchanged input, no work: a night on the live run's raw files, settings and code is not
started (CLI, schedule, sensor), says so in one line and touches nothing; any change, or
``--force``, runs. One night in the module (a CLI run in this process, with an instance)."""

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

import pipeline.__main__ as cli
from pipeline import unchanged
from pipeline.automation import new_raw_file_sensor, nightly_schedule
from pipeline.resources import DataRoot
from pipeline.unchanged import unchanged_since_live
from recsys_core.publish.fingerprint import code_digest, digest, same_inputs
from tests.conftest import SMOKE_YAML, random_ratings


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A data root after one successful ``python -m pipeline run`` (in this process, with a
    Dagster instance), and the environment that run saw, kept for the module's tests."""
    root = tmp_path_factory.mktemp("unchanged")
    (root / "raw").mkdir()
    random_ratings(n_users=40, n_items=50, seed=4).write_csv(root / "raw" / "r.csv")
    (root / "recsys.yaml").write_text(SMOKE_YAML)
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RECSYS_DATA_DIR", str(root))
        env.setenv("RECSYS_CONFIG", str(root / "recsys.yaml"))
        env.setenv("DAGSTER_HOME", str(home))
        env.delenv("RECSYS_FAILPOINT", raising=False)
        assert cli.main(["run"]) == 0
        yield root


def live_record(root: Path) -> dict:
    run = json.loads((root / "published" / "CURRENT.json").read_text())["run_id"]
    return json.loads((root / "published" / "history" / run / "run.json").read_text())


def runs_in_instance(root: Path) -> int:
    with dg.DagsterInstance.from_config(str(root / "home")) as instance:
        return len(instance.get_runs())


def test_the_live_run_records_its_fingerprint_as_dagster_versions_its_assets(night):
    record = live_record(night)
    data = (night / "raw" / "r.csv").read_bytes()
    listing = {"r.csv": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    by_hand = hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()[:16]
    assert record["fingerprint"]["raw_files"] == by_hand
    with dg.DagsterInstance.from_config(str(night / "home")) as instance:
        for asset in ("raw_files", "ratings"):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            version = event.asset_materialization.tags["dagster/data_version"]
            assert record["fingerprint"][asset] == version, asset


def test_unchanged_night_does_no_work_and_says_so_in_one_line(night, capsys):
    published, warehouse = tree(night / "published"), tree(night / "warehouse")
    runs = runs_in_instance(night)
    assert cli.main(["run"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert line.startswith("run skipped: unchanged since live run " + live_record(night)["run_id"])
    assert "--force" in line and not err
    assert tree(night / "published") == published, "the live table or the history changed"
    assert tree(night / "warehouse") == warehouse, "a stored value was rewritten"
    assert runs_in_instance(night) == runs, "a Dagster run was started"


def test_schedule_and_sensor_skip_naming_the_live_run(night):
    live = live_record(night)["run_id"]
    resources = {"data_root": DataRoot(root=str(night))}
    tick = datetime(2026, 1, 2, 2, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick, resources=resources) as ctx:
        result = nightly_schedule.evaluate_tick(ctx)
    assert not result.run_requests and live in result.skip_message
    past = time.time() - 120  # settled: older than settle_seconds
    os.utime(night / "raw" / "r.csv", (past, past))
    cursor, instance = None, dg.DagsterInstance.ephemeral()  # no night queued or running
    for _ in range(2):  # the file is seen, then found quiet: a change for the sensor
        with dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance) as ctx:
            result = new_raw_file_sensor(ctx)
        cursor = result.cursor
    assert not result.run_requests and live in result.skip_reason.skip_message
    assert json.loads(cursor)["files"], "the cursor moved past the file"


def test_a_changed_raw_file_setting_code_or_warehouse_means_a_night(night, monkeypatch):
    root = DataRoot(root=str(night))
    assert unchanged_since_live(root)
    raw, config = night / "raw" / "r.csv", night / "recsys.yaml"
    stored = night / "warehouse" / "raw_files.json"
    changes = [
        (raw, raw.read_bytes() + b"40,101,5.0,1500000\n"),  # a new rating
        (night / "raw" / "b.csv", b"userId,itemId,rating\n1,101,4\n"),  # a new file
        (config, config.read_bytes() + b"topn: {n: 5}\n"),  # a setting
        (config, b"topn: {n: -1}\n"),  # a bad settings file: the night fails naming the key
        (stored, b'{"other.csv": {"bytes": 1, "sha256": "0"}}'),  # a later run read another file
    ]
    for path, content in changes:
        before = path.read_bytes() if path.exists() else None
        path.write_bytes(content)
        assert unchanged_since_live(root) is None, path.name
        path.unlink() if before is None else path.write_bytes(before)
        assert unchanged_since_live(root), f"not unchanged again after restoring {path.name}"
    monkeypatch.setattr(unchanged, "code_digest", lambda packages: "another release")
    assert unchanged_since_live(root) is None


class Started(Exception):  # noqa: N818 (a signal, not an error)
    """Raised instead of executing the nightly job."""


def test_the_cli_runs_on_a_change_or_with_force(night, monkeypatch, capsys):
    def execute(instance):
        raise Started

    monkeypatch.setattr(cli, "_execute", execute)
    with pytest.raises(Started):
        cli.main(["run", "--force"])
    config = night / "recsys.yaml"
    before = config.read_text()
    config.write_text(before + "topn: {n: 5}\n")
    try:
        with pytest.raises(Started):
            cli.main(["run"])
    finally:
        config.write_text(before)
    assert "skipped" not in capsys.readouterr().out


def test_fingerprint_parts():
    assert digest({"b": 1, "a": [1.5]}) == hashlib.sha256(b'{"a": [1.5], "b": 1}').hexdigest()[:16]
    now = {"raw_files": "r", "settings": "s", "code": "c", "ratings": "v"}
    assert same_inputs(now | {"ratings": "other"}, now), "ratings follow from raw and settings"
    assert not same_inputs({}, now) and not same_inputs(None, now)
    for key in ("raw_files", "settings", "code"):
        assert not same_inputs(now | {key: "x"}, now), key
        assert not same_inputs({k: v for k, v in now.items() if k != key}, now), key


def test_code_digest_follows_the_source(tmp_path, monkeypatch):
    (tmp_path / "pkg_fp").mkdir()
    module = tmp_path / "pkg_fp" / "__init__.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_digest(("pkg_fp",), ())
    code_digest.cache_clear()
    assert code_digest(("pkg_fp",), ()) == first, "the same source, the same digest"
    module.write_text("X = 2\n")
    code_digest.cache_clear()
    assert code_digest(("pkg_fp",), ()) != first
    assert code_digest(("pkg_fp",), ("numpy",)) != code_digest(("pkg_fp",), ())
