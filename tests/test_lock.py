"""One writer per data root: a second writer fails fast naming the holder; a SIGKILLed holder
never blocks the next writer."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipeline.lock import LOCK_NAME, DataRootLock, LockHeldError, hold_lock, lock_file

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys
from pipeline.lock import hold_lock
with hold_lock(sys.argv[1], "nightly run abc"):
    print("held", flush=True)
    sys.stdin.read()  # hold until killed (or stdin closes)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "held\n"
    yield child
    if child.poll() is None:
        child.kill()
    child.wait()


def test_a_second_writer_fails_naming_the_holder_until_the_holder_is_killed(tmp_path, holder):
    with pytest.raises(LockHeldError) as caught, hold_lock(tmp_path, "rollback"):
        pytest.fail("took a lock another process holds")
    message = str(caught.value)
    assert "nightly run abc" in message and f"pid {holder.pid}" in message
    assert socket.gethostname() in message
    holder.send_signal(signal.SIGKILL)
    assert holder.wait() == -signal.SIGKILL
    stale = json.loads((tmp_path / LOCK_NAME).read_text())
    assert stale["pid"] == holder.pid, "the dead holder's text is still there"
    with hold_lock(tmp_path, "rollback"):  # the kernel released it: trust the lock, not the text
        assert json.loads((tmp_path / LOCK_NAME).read_text())["owner"] == "rollback"
    assert (tmp_path / LOCK_NAME).read_text() == "", "released lock keeps a description"


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    first = hold_lock(tmp_path, "first")
    with first, pytest.raises(LockHeldError, match="first"), hold_lock(tmp_path, "second"):
        pass
    with hold_lock(tmp_path, "second"):
        pass


def test_lock_file_for_paths_and_uris(tmp_path):
    assert lock_file(tmp_path) == tmp_path / LOCK_NAME
    assert lock_file(f"file://{tmp_path}") == tmp_path / LOCK_NAME
    assert lock_file("s3://bucket/root", tmp_path / "x.lock") == tmp_path / "x.lock"
    with pytest.raises(ValueError, match="lock_path"):
        lock_file("s3://bucket/root")


@dg.op
def write_something(context: dg.OpExecutionContext, lock: DataRootLock) -> dict:
    return json.loads(lock.path().read_text())


@dg.job
def writer():
    write_something()


def test_the_resource_fails_a_run_naming_the_holder_then_takes_the_lock(tmp_path, holder):
    lock = DataRootLock(root=str(tmp_path))
    blocked = writer.execute_in_process(resources={"lock": lock}, raise_on_error=False)
    assert not blocked.success
    failures = [e for e in blocked.all_events if e.is_failure]
    text = " ".join(str(e.event_specific_data) for e in failures)
    assert "nightly run abc" in text and f"pid {holder.pid}" in text, text
    holder.kill()
    holder.wait()
    done = writer.execute_in_process(resources={"lock": lock})
    inside = done.output_for_node("write_something")
    assert inside["owner"] == f"run {done.run_id}" and inside["pid"] == os.getpid()
    with hold_lock(tmp_path, "after"):  # released at teardown
        pass


def test_the_resource_refuses_a_remote_root_without_a_lock_path():
    with pytest.raises(dg.Failure, match="lock_path"):
        DataRootLock(root="s3://bucket/root").path()
