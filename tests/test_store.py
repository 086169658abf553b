"""Whole-object uploads through fsspec (``file://``): an interrupted or killed upload leaves the
old object intact and readable."""

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fsspec.core import url_to_fs

from recsys_core.publish.files import TMP_MARK
from recsys_core.publish.store import put_whole, remove_stale_uploads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    """(fs, remote root) of a ``file://`` store, and a local source folder."""
    (tmp_path / "store").mkdir()
    fs, root = url_to_fs(f"file://{tmp_path}/store")
    return fs, root


def leftovers(fs, root):
    return [p for p in fs.find(root) if TMP_MARK in p]


def test_put_whole_replaces_the_object(tmp_path, store):
    fs, root = store
    src = tmp_path / "new.parquet"
    src.write_bytes(b"new" * 1000)
    target = f"{root}/published/recommendations.parquet"
    assert put_whole(src, fs, target, chunk=100) == target
    assert fs.cat_file(target) == src.read_bytes()
    src.write_bytes(b"newer")
    put_whole(src, fs, target)
    assert fs.cat_file(target) == b"newer"
    assert leftovers(fs, root) == []


def test_a_failing_upload_leaves_the_old_object_and_no_temporary(tmp_path, store):
    fs, root = store
    target = f"{root}/recommendations.parquet"
    fs.pipe_file(target, b"old")
    src = tmp_path / "big"
    src.write_bytes(os.urandom(10_000))
    seen = []

    def fail_midway(sent):
        seen.append(sent)
        assert fs.cat_file(target) == b"old", "the target changed during the upload"
        if sent >= 3000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as caught:
        put_whole(src, fs, target, chunk=1000, progress=fail_midway)
    assert caught.value.errno == errno.ENOSPC and target in str(caught.value)
    assert seen == [1000, 2000, 3000]
    assert fs.cat_file(target) == b"old"
    assert leftovers(fs, root) == []


CHILD = """
import sys
from fsspec.core import url_to_fs
from recsys_core.publish.store import put_whole

fs, target = url_to_fs(sys.argv[2])

def stall(sent):
    print(sent, flush=True)
    sys.stdin.read()  # wait here, mid-upload, until killed

put_whole(sys.argv[1], fs, target, chunk=1 << 20, progress=stall)
"""


def test_sigkill_mid_upload_of_a_large_file_keeps_the_old_object(tmp_path, store):
    fs, root = store
    target = f"{root}/published/recommendations.parquet"
    fs.makedirs(f"{root}/published", exist_ok=True)
    fs.pipe_file(target, b"old table")
    big = tmp_path / "big.parquet"
    big.write_bytes(os.urandom(24 << 20))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(big), f"file://{target}"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == f"{1 << 20}\n"  # one chunk of 24 sent
        child.send_signal(signal.SIGKILL)
    finally:
        assert child.wait() == -signal.SIGKILL
    assert fs.cat_file(target) == b"old table"
    stale = leftovers(fs, root)
    assert len(stale) == 1 and fs.size(stale[0]) >= 1 << 20, "the part went to a temporary key"
    assert remove_stale_uploads(fs, root) == stale
    put_whole(big, fs, target)
    assert fs.cat_file(target) == big.read_bytes()
    assert leftovers(fs, root) == []


def test_remove_stale_uploads_of_a_missing_folder(store):
    fs, root = store
    assert remove_stale_uploads(fs, f"{root}/nothing") == []
