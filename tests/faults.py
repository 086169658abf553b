"""Shared helpers and fixtures of the unattended-night tests (``test_unattended*.py``): a tiny
published data root built once per module and copied into each test that needs a live table, the
CLI and run helpers, and the failure texts a test reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipeline.__main__ import failure_reason, main
from pipeline.automation import NIGHTLY
from pipeline.definitions import ASSETS, CHECKS, resources
from tests.conftest import SMOKE, SMOKE_YAML, random_ratings

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

tags = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
sleeper.execute_in_process(instance=dg.DagsterInstance.get(), tags=tags)
"""
"""A run that waits until killed (argument: its tags as JSON, optional); prints its run id."""
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
    """The nightly job's assets (or ``selection``) over ``root``, on ``instance`` or a test
    instance."""
    if instance is None:
        with dg.instance_for_test() as fresh:
            return materialize(root, run_config, selection, fresh)
    config = run_config or run_settings({})
    sections = config["resources"]["settings"]["config"]
    merged = {name: {**SMOKE.get(name, {}), **sections.get(name, {})} for name in SMOKE}
    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources=resources(str(root)),
        run_config=run_settings({**sections, **merged}),
        selection=NIGHTLY if selection is None else selection,
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
    (tmp_path / "recsys.yaml").write_text(SMOKE_YAML)  # random ratings: relative gate off

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
