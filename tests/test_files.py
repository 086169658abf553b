"""Atomic writes: the umask is read without being changed, failures name the target path."""

import errno
import os
import stat

import polars as pl
import pytest

from recsys_core.publish import files
from recsys_core.publish.files import (
    TMP_MARK,
    atomic_write,
    copy_atomic,
    remove_stale_temps,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_the_umask_is_read_without_setting_it(tmp_path, umask_027, monkeypatch):
    def forbidden(mask):
        raise AssertionError(f"os.umask({mask:o}) called: other threads would see it")

    monkeypatch.setattr(files.os, "umask", forbidden)
    out = write_text_atomic("x", tmp_path / "a.txt")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_umask_from_a_status_file_and_the_fallback(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nUmask:\t0077\nState:\tR (running)\n")
    assert files._umask(status) == 0o077
    status.write_text("Name:\tpython\n")  # an old kernel without the line
    assert files._umask(status) == files.DEFAULT_UMASK == 0o022
    assert files._umask(tmp_path / "missing") == 0o022


def test_disk_full_names_the_path_and_keeps_errno(tmp_path):
    target = tmp_path / "published" / "recommendations.parquet"
    target.parent.mkdir()
    target.write_text("old")

    def full(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as caught:
        atomic_write(target, full)
    assert caught.value.errno == errno.ENOSPC
    assert str(target) in str(caught.value)
    assert target.read_text() == "old"
    assert not list(tmp_path.rglob(f"{TMP_MARK}*")), "temporary file left behind"


def test_a_missing_source_keeps_its_type_and_names_the_target(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        copy_atomic(tmp_path / "nope", tmp_path / "dst.bin")
    assert caught.value.errno == errno.ENOENT
    assert str(tmp_path / "dst.bin") in str(caught.value)


def test_other_errors_pass_unchanged(tmp_path):
    def broken(tmp):
        raise ValueError("not an OSError")

    with pytest.raises(ValueError, match="not an OSError"):
        atomic_write(tmp_path / "a", broken)
    assert not list(tmp_path.iterdir())


def test_helpers_round_trip(tmp_path):
    frame = pl.DataFrame({"a": [1, 2]})
    assert pl.read_parquet(write_parquet_atomic(frame, tmp_path / "t.parquet")).equals(frame)
    assert write_json_atomic({"b": 1}, tmp_path / "j.json").read_text() == '{\n  "b": 1\n}\n'
    text = write_text_atomic("héllo", tmp_path / "x.txt")
    copy = copy_atomic(text, tmp_path / "sub" / "y.txt")
    assert sha256_file(copy) == sha256_file(text)
    (tmp_path / f"{TMP_MARK}z.1").write_text("stale")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [f"{TMP_MARK}z.1"]
