"""Versioned publishing: confined run ids, all files live together, records, prefixes, pruning,
and a live set that stays whole when the process is SIGKILLed at any point."""

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from recsys_core.errors import DataError
from recsys_core.publish import history
from recsys_core.publish.history import (
    CURRENT,
    LIVE_FILES,
    current_run,
    make_live,
    prune,
    publish_run,
    resolve_run,
    run_ids,
    run_record,
    runs,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def staged(folder: Path, tag: int, report: bool = True, day: int = 0) -> dict[str, Path]:
    """The six files of one run, each with content unique to ``tag``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "recommendations.parquet": folder / "recs.parquet",
        "metrics.parquet": folder / "metrics.parquet",
        "similar_items.parquet": folder / "similar.parquet",
        "default_list.parquet": folder / "default.parquet",
        "run.json": folder / "run.json",
    }
    pl.DataFrame({"user_id": [tag] * 3, "item_id": [1, 2, 3]}).write_parquet(files[LIVE_FILES[0]])
    pl.DataFrame({"model": ["knn"], "ndcg": [tag / 100]}).write_parquet(files["metrics.parquet"])
    pl.DataFrame({"item_id": [tag], "similar_item_id": [tag + 1]}).write_parquet(
        files["similar_items.parquet"]
    )
    pl.DataFrame({"rank": [1], "item_id": [tag]}).write_parquet(files["default_list.parquet"])
    record = run_record(
        f"run{tag}",
        data_root="/data/root",
        inputs={"b.csv": 7 * tag, "a.csv": tag},
        ratings=8 * tag,
        users=tag + 1,
        ndcg=tag / 100,
        gate="passed",
        settings={"topn": {"n": tag}},
        date=T0 + timedelta(days=day),
    )
    files["run.json"].write_text(json.dumps(record))
    if report:
        files["report.html"] = folder / "report.html"
        files["report.html"].write_text(f"<html>{tag}</html>")
    return files


def live_bytes(published: Path) -> dict[str, bytes | None]:
    return {
        n: (published / n).read_bytes() if (published / n).exists() else None for n in LIVE_FILES
    }


def test_all_files_go_live_together_and_rollback_restores_all(tmp_path):
    published = tmp_path / "published"
    publish_run(published, "run1", staged(tmp_path / "s1", 1, day=0))
    first = live_bytes(published)
    publish_run(published, "run2", staged(tmp_path / "s2", 2, day=1))
    assert current_run(published) == "run2"
    assert (published / "report.html").read_text() == "<html>2</html>"
    assert json.loads((published / "run.json").read_text())["run_id"] == "run2"
    make_live(published, "run1")
    assert live_bytes(published) == first
    assert current_run(published) == "run1"
    for name in LIVE_FILES:
        assert (published / "history" / "run1" / name).read_bytes() == first[name]


def test_rolling_back_to_a_run_without_a_report_removes_the_live_one(tmp_path):
    published = tmp_path / "published"
    publish_run(published, "old", staged(tmp_path / "s1", 1, report=False))
    publish_run(published, "new", staged(tmp_path / "s2", 2))
    make_live(published, "old")
    assert not (published / "report.html").exists(), "the live report belongs to another run"


def test_live_files_are_replaced_in_a_fixed_order_with_current_last(tmp_path, monkeypatch):
    published = tmp_path / "published"
    files = staged(tmp_path / "s", 1)
    order = []
    real_copy, real_json = history.copy_atomic, history.write_json_atomic
    monkeypatch.setattr(
        history, "copy_atomic", lambda src, dst: order.append(Path(dst)) or real_copy(src, dst)
    )
    monkeypatch.setattr(
        history, "write_json_atomic", lambda v, dst: order.append(Path(dst)) or real_json(v, dst)
    )
    publish_run(published, "run1", files)
    live = [p.name for p in order if p.parent == published]
    assert live == [*LIVE_FILES, CURRENT]
    assert all(p.parent.name == "run1" for p in order[: len(files)]), "history first"


@pytest.mark.parametrize(
    "bad", ["../../x", "../outside", "/tmp/x", "a/b", "", ".hidden", "-x", "x" * 129, "a b"]
)
def test_run_ids_that_are_paths_or_malformed_are_refused(tmp_path, bad):
    published = tmp_path / "published"
    publish_run(published, "run1", staged(tmp_path / "s", 1))
    with pytest.raises(DataError, match="invalid run id"):
        make_live(published, bad)
    with pytest.raises(DataError, match="invalid run id"):
        publish_run(published, bad, staged(tmp_path / "s", 2))
    assert current_run(published) == "run1"


def test_a_symlinked_run_folder_leading_outside_is_refused(tmp_path):
    published = tmp_path / "published"
    publish_run(published, "run1", staged(tmp_path / "s", 1))
    outside = tmp_path / "elsewhere"
    for name, src in staged(tmp_path / "s2", 2).items():
        outside.mkdir(exist_ok=True)
        (outside / name).write_bytes(src.read_bytes())
    (published / "history" / "evil").symlink_to(outside)
    with pytest.raises(DataError, match="outside"):
        make_live(published, "evil")
    assert current_run(published) == "run1"


def test_a_run_without_its_tables_is_refused_naming_the_known_runs(tmp_path):
    published = tmp_path / "published"
    publish_run(published, "run1", staged(tmp_path / "s", 1))
    with pytest.raises(DataError, match=r"run 'nope' has no published .*run1"):
        make_live(published, "nope")
    files = staged(tmp_path / "s", 2)
    del files["metrics.parquet"]
    with pytest.raises(DataError, match=r"metrics\.parquet"):
        publish_run(published, "run2", files)
    with pytest.raises(DataError, match="plain"):
        publish_run(published, "run3", {**staged(tmp_path / "s", 3), "../x": files["run.json"]})


def test_runs_lists_the_records_oldest_first_with_the_live_marker(tmp_path):
    published = tmp_path / "published"
    assert runs(published) == []
    publish_run(published, "run3", staged(tmp_path / "s3", 3, day=5))  # published first,
    publish_run(published, "run1", staged(tmp_path / "s1", 1, day=0))  # but dated earlier
    make_live(published, "run3")
    rows = runs(published)
    assert [r.run_id for r in rows] == ["run1", "run3"] == run_ids(published)
    assert [r.live for r in rows] == [False, True]
    row = rows[1]
    assert row.date == "2026-11-06T02:00:00+00:00"
    assert (row.data_root, row.ratings, row.users, row.ndcg, row.gate) == (
        "/data/root",
        24,
        4,
        0.03,
        "passed",
    )


def test_a_run_without_a_record_is_listed_with_blanks(tmp_path):
    published = tmp_path / "published"
    files = staged(tmp_path / "s", 1)
    del files["run.json"]
    publish_run(published, "bare", files)
    (row,) = runs(published)
    assert row.run_id == "bare" and row.live and row.date is None and row.ndcg is None
    assert not (published / "run.json").exists()


def test_run_record_is_utc_and_checks_the_id():
    local = datetime(2026, 11, 1, 4, 0, tzinfo=timezone(timedelta(hours=1)))
    record = run_record(
        "r1", data_root="s3://b/r", inputs={"a.csv": 3}, ratings=3, users=2,
        ndcg=0.5, gate="passed", settings={}, date=local,
    )  # fmt: skip
    assert record["date"] == "2026-11-01T03:00:00+00:00"
    assert record["inputs"] == {"a.csv": 3} and record["ndcg"] == 0.5
    with pytest.raises(DataError):
        run_record("../r", data_root="x", inputs={}, ratings=0, users=0, ndcg=None,
                   gate="failed", settings={})  # fmt: skip


def test_unique_prefixes_resolve_and_others_list_the_candidates(tmp_path):
    published = tmp_path / "published"
    for day, run_id in enumerate(["abc123", "abd456", "ab"]):
        publish_run(published, run_id, staged(tmp_path / run_id, day + 1, day=day))
    assert resolve_run(published, "abc") == "abc123"
    assert resolve_run(published, "ab") == "ab", "an exact id wins over longer ids"
    with pytest.raises(DataError, match="ambiguous: abc123, abd456"):
        resolve_run(published, "a")
    with pytest.raises(DataError, match=r"no published run starts with 'zz' .*abc123"):
        resolve_run(published, "zz")
    with pytest.raises(DataError, match="not a run id"):
        resolve_run(published, "../ab")


def test_prune_keeps_the_newest_and_never_the_live_run(tmp_path):
    published = tmp_path / "published"
    for day in range(5):
        publish_run(published, f"run{day}", staged(tmp_path / f"s{day}", day + 1, day=day))
    make_live(published, "run0")  # rolled back to the oldest
    assert prune(published, keep_runs=2) == ["run1", "run2"]
    assert run_ids(published) == ["run0", "run3", "run4"]
    assert current_run(published) == "run0"
    assert (published / "history" / "run0" / "recommendations.parquet").is_file()
    assert not list((published / "history").glob(".*")), "trash left behind"
    with pytest.raises(DataError, match="keep_runs"):
        prune(published, keep_runs=0)


def test_publish_can_prune_as_it_goes(tmp_path):
    published = tmp_path / "published"
    for day in range(4):
        files = staged(tmp_path / f"s{day}", day + 1, day=day)
        publish_run(published, f"run{day}", files, keep_runs=2)
    assert run_ids(published) == ["run2", "run3"]


CHILD = """
import sys
from pathlib import Path
from recsys_core.publish.history import publish_run
publish_run(Path(sys.argv[1]), "run2", {n: Path(p) for n, p in zip(sys.argv[2::2], sys.argv[3::2])})
"""


@pytest.mark.parametrize(
    "point",
    [
        "before-rename:run2/metrics.parquet",
        "publish:before-live",
        *(f"before-rename:published/{name}" for name in LIVE_FILES),
        f"before-rename:published/{CURRENT}",
    ],
)
def test_sigkill_at_any_point_leaves_every_live_file_whole(tmp_path, point):
    published = tmp_path / "published"
    publish_run(published, "run1", staged(tmp_path / "s1", 1, day=0))
    old = live_bytes(published)
    files = staged(tmp_path / "s2", 2, day=1)
    env = {**os.environ, "RECSYS_FAILPOINT": point, "PYTHONPATH": str(ROOT)}
    args = [str(published)] + [str(x) for kv in files.items() for x in kv]
    child = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    new = {n: Path(files[n]).read_bytes() for n in LIVE_FILES}
    now = live_bytes(published)
    for name in LIVE_FILES:
        assert now[name] in (old[name], new[name]), f"{name} is neither run's copy"
    pl.read_parquet(published / "recommendations.parquet")  # readable, never partial
    live = current_run(published)
    assert live == "run1", "CURRENT moved before the live set was complete"
    # the consistent set a reader takes: history/<CURRENT>/ is exactly run1
    for name in LIVE_FILES:
        assert (published / "history" / live / name).read_bytes() == old[name]
    publish_run(published, "run2", files)  # the next attempt completes
    assert live_bytes(published) == new
