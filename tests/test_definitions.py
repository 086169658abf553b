"""The Dagster definitions as a reviewed snapshot: asset keys and their upstream edges, checks
(blocking or not), jobs, schedules and sensors. Any change to the graph fails here until the
snapshot is regenerated and the diff reviewed:

    .venv/bin/python -m tests.test_definitions   # rewrites tests/snapshots/definitions.json
"""

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def graph() -> dict:
    """The reviewed shape of the code location."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    }
    checks = sorted(
        f"{c.asset_key.to_user_string()}:{c.name}{' (blocking)' if spec.blocking else ''}"
        for c in graph.asset_check_keys
        for spec in [graph.get_check_spec(c)]
    )
    return {
        "assets": assets,
        "checks": checks,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_definitions_match_the_reviewed_snapshot():
    current, stored = graph(), json.loads(SNAPSHOT.read_text())
    for part in stored:
        assert current[part] == stored[part], (
            f"the {part} of the code location changed; review, then regenerate with "
            "`python -m tests.test_definitions`"
        )


def test_every_asset_body_is_short():
    """Asset bodies are thin wiring: a few core calls, under ~20 lines each."""
    bodies = 0
    for node in defs.get_repository_def().asset_graph.assets_defs:
        if not isinstance(node.node_def, dg.OpDefinition):
            continue  # a graph asset: its ops are checked below through their own functions
        fn = getattr(node.node_def.compute_fn, "decorated_fn", None)
        if fn is None:
            continue
        bodies += 1
        lines = inspect.getsource(fn).splitlines()
        body = lines[next(i for i, line in enumerate(lines) if line.rstrip().endswith(":")) + 1 :]
        assert len(body) <= 22, f"{fn.__name__}: {len(body)} lines of body"
    assert bodies >= 20, "the walk found too few asset functions to mean anything"


def test_definitions_validate_from_the_command_line():
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent))
    assert dagster, f"the dagster CLI is not installed beside {sys.executable}"
    out = subprocess.run(
        [dagster, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(ROOT / "dagster_home")},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(graph(), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")
