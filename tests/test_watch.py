"""The raw-file watcher: quiet and complete files only, content-and-time run keys, no crash on
odd names. Time is passed in (``now``), never waited for."""

import json
import os
from pathlib import Path

import pytest

from recsys_core.data import watch
from recsys_core.data.watch import run_key, scan

NOW = 2_000_000_000.0


def put(path: Path, text: str, age: float = 300.0) -> Path:
    """Write ``text`` and set the mtime ``age`` seconds before NOW."""
    path.write_text(text)
    os.utime(path, ns=(int((NOW - age) * 1e9),) * 2)
    return path


def look(folder, cursor, settle=30.0):
    return scan(folder, cursor, settle_seconds=settle, now=NOW)


def test_a_new_file_waits_for_a_second_quiet_look(tmp_path):
    put(tmp_path / "r.csv", "1,2,3\n")
    first = look(tmp_path, None)
    assert first.changed == [] and first.unsettled == ["r.csv"]
    second = look(tmp_path, first.cursor)
    assert second.changed == ["r.csv"] and second.unsettled == []
    assert look(tmp_path, second.cursor).changed == [], "fired twice for the same file"


def test_a_file_still_growing_is_not_read_even_when_its_mtime_is_old(tmp_path):
    f = put(tmp_path / "r.csv", "1,2,3\n")
    s1 = look(tmp_path, None)
    put(f, "1,2,3\n4,5,")  # a copy that keeps the source mtime: only the size moved
    s2 = look(tmp_path, s1.cursor)
    assert s2.changed == [] and s2.unsettled == ["r.csv"]
    put(f, "1,2,3\n4,5,6\n")
    s3 = look(tmp_path, s2.cursor)
    assert s3.changed == []
    s4 = look(tmp_path, s3.cursor)
    assert s4.changed == ["r.csv"]
    assert json.loads(s4.cursor)["files"]["r.csv"][0] == len("1,2,3\n4,5,6\n")


def test_settle_seconds_still_applies_to_a_quiet_file(tmp_path):
    put(tmp_path / "r.csv", "1,2,3\n", age=5)
    s1 = look(tmp_path, None, settle=30)
    s2 = look(tmp_path, s1.cursor, settle=30)
    assert s2.changed == [] and s2.unsettled == ["r.csv"]
    assert scan(tmp_path, s2.cursor, settle_seconds=30, now=NOW + 60).changed == ["r.csv"]


def test_a_file_written_while_hashed_waits(tmp_path, monkeypatch):
    f = put(tmp_path / "r.csv", "1,2,3\n")
    s1 = look(tmp_path, None)
    real = watch.sha256_file

    def racing(path):
        digest = real(path)
        put(f, "1,2,3\n4,5,6\n")
        return digest

    monkeypatch.setattr(watch, "sha256_file", racing)
    s2 = look(tmp_path, s1.cursor)
    assert s2.changed == [] and s2.unsettled == ["r.csv"]


def test_touch_without_change_starts_nothing(tmp_path):
    f = put(tmp_path / "r.csv", "1,2,3\n")
    settled = look(tmp_path, look(tmp_path, None).cursor)
    put(f, "1,2,3\n", age=200)  # new mtime, same bytes
    s1 = look(tmp_path, settled.cursor)
    s2 = look(tmp_path, s1.cursor)
    assert s1.changed == s2.changed == []
    assert s2.generation == settled.generation == 1


def test_a_file_reverted_to_earlier_content_is_a_new_run(tmp_path):
    f = tmp_path / "r.csv"
    keys, cursor = [], None
    for age, text in [(300, "a\n"), (200, "b\n"), (100, "a\n")]:
        put(f, text, age)
        cursor = look(tmp_path, cursor).cursor
        found = look(tmp_path, cursor)
        cursor = found.cursor
        assert found.changed == ["r.csv"], text
        keys.append(run_key(found.cursor, found.changed))
    assert len(set(keys)) == 3, keys
    assert keys[0].split(":")[1] == keys[2].split(":")[1], "same content, same file part"
    assert [k.split("-")[0] for k in keys] == ["g1", "g2", "g3"]


def test_part_and_hidden_files_are_never_read(tmp_path, monkeypatch):
    read = []
    monkeypatch.setattr(watch, "sha256_file", lambda p: read.append(Path(p).name) or "0" * 64)
    put(tmp_path / "r.csv.part", "1,2,")
    put(tmp_path / ".r.csv", "1,2,")
    put(tmp_path / ".tmp-x", "1,2,")
    s = look(tmp_path, look(tmp_path, None).cursor)
    assert s.changed == [] and s.unsettled == [] and read == []
    assert s.skipped == [".r.csv", ".tmp-x", "r.csv.part"]
    os.replace(tmp_path / "r.csv.part", tmp_path / "r.csv")  # the producer's rename
    s = look(tmp_path, look(tmp_path, s.cursor).cursor)
    assert s.changed == ["r.csv"] and read == ["r.csv"]


def test_a_name_that_is_not_utf8_is_reported_by_its_repr(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.csv"
    with open(raw, "wb") as fh:
        fh.write(b"1,2,3\n")
    os.utime(raw, ns=(int((NOW - 300) * 1e9),) * 2)
    with open(os.fsencode(tmp_path) + b"/.\xff.part", "wb"):
        pass
    s = look(tmp_path, look(tmp_path, None).cursor)
    assert s.changed == ["b'caf\\xe9.csv'"]
    assert s.skipped == ["b'.\\xff.part'"]
    s.cursor.encode("utf-8")  # storable by Dagster
    run_key(s.cursor, s.changed).encode("utf-8")


def test_a_version_1_cursor_is_still_understood(tmp_path):
    f = put(tmp_path / "r.csv", "1,2,3\n")
    st = f.stat()
    v1 = json.dumps({"r.csv": [st.st_size, st.st_mtime_ns, watch.sha256_file(f)]})
    s = look(tmp_path, v1)
    assert s.changed == [] and s.unsettled == [] and s.generation == 0
    put(f, "1,2,4\n", age=100)
    assert look(tmp_path, look(tmp_path, s.cursor).cursor).changed == ["r.csv"]


@pytest.mark.parametrize("folder", ["missing"])
def test_a_missing_folder_is_empty(tmp_path, folder):
    s = look(tmp_path / folder, None)
    assert (s.changed, s.unsettled, s.skipped) == ([], [], [])
