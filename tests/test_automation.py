"""Schedule and sensor: a tick gives a valid run; one run per change, none for no change."""

import os
import time
from datetime import UTC, datetime

import dagster as dg

from pipeline.automation import new_raw_file_sensor, nightly_schedule
from pipeline.definitions import defs
from pipeline.resources import DataRoot
from recsys_core.data import watch


def test_schedule_tick_gives_a_valid_run_config(tmp_path):
    assert nightly_schedule.cron_schedule == "0 2 * * *"
    assert nightly_schedule.execution_timezone == "UTC"
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 1, 2, 2, tzinfo=UTC),
        resources={"data_root": DataRoot(root=str(tmp_path))},  # nothing live: a night runs
    )
    (request,) = nightly_schedule.evaluate_tick(ctx).run_requests
    job = defs.resolve_job_def("nightly")
    config = dg.validate_run_config(job, request.run_config)
    sections = config["resources"]["settings"]["config"]
    assert sections["topn"] is None and sections["models"] is None, "a tick overrides nothing"


def _old(path, seconds=120):
    past = time.time() - seconds
    os.utime(path, (past, past))


def _tick(root, cursor):
    resources = {"data_root": DataRoot(root=str(root))}
    with dg.build_sensor_context(
        cursor=cursor, resources=resources, instance=dg.DagsterInstance.ephemeral()
    ) as ctx:
        return new_raw_file_sensor(ctx)


def test_sensor_skips_fires_once_per_new_file_and_not_again(tmp_path):
    result = _tick(tmp_path, None)
    assert not result.run_requests and result.skip_reason
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("user,item,rating\n1,2,3\n")
    _old(raw / "a.csv")
    seen = _tick(tmp_path, result.cursor)
    assert not seen.run_requests, "a file must be quiet at two ticks before a run starts"
    first = _tick(tmp_path, seen.cursor)
    assert len(first.run_requests) == 1
    again = _tick(tmp_path, first.cursor)
    assert not again.run_requests, "fired twice for the same file"
    (raw / "b.csv").write_text("user,item,rating\n2,2,3\n")
    _old(raw / "b.csv")
    second = _tick(tmp_path, _tick(tmp_path, again.cursor).cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert "b.csv" in second.run_requests[0].run_key


def test_watch_touch_without_change_starts_nothing_but_new_content_does(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("1,2,3\n")
    _old(f, 200)
    s1 = watch.scan(tmp_path, watch.scan(tmp_path, None).cursor)
    assert s1.changed == ["r.csv"]
    _old(f, 100)  # touched: new mtime, same bytes
    s2 = watch.scan(tmp_path, watch.scan(tmp_path, s1.cursor).cursor)
    assert s2.changed == []
    f.write_text("1,2,4\n")
    _old(f, 60)
    s3 = watch.scan(tmp_path, watch.scan(tmp_path, s2.cursor).cursor)
    assert s3.changed == ["r.csv"]
    assert watch.run_key(s3.cursor, s3.changed) != watch.run_key(s1.cursor, s1.changed)


def test_watch_waits_for_a_file_still_being_written(tmp_path):
    (tmp_path / "r.csv").write_text("1,2,")
    s1 = watch.scan(tmp_path, None, settle_seconds=30)
    assert s1.changed == [] and s1.unsettled == ["r.csv"]
    _old(tmp_path / "r.csv")
    s2 = watch.scan(tmp_path, s1.cursor, settle_seconds=30)
    assert watch.scan(tmp_path, s2.cursor, settle_seconds=30).changed == ["r.csv"]


def test_project_instance_runs_one_run_at_a_time():
    from pathlib import Path

    home = Path(__file__).resolve().parents[1] / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
