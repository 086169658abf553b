"""The Dagster webserver loads the code location; GraphQL shows the graph, automation, checks."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_EDGES = {
    "ratings": {"raw_ratings"},
    "train_ratings": {"ratings"},
    "test_ratings": {"ratings"},
    "popularity_model": {"ratings"},
    "item_knn_model": {"ratings"},
    "svd_model": {"ratings"},
    "pure_svd_model": {"ratings"},
    "hybrid_tuning": {"train_ratings"},
    "model_tuning": {"train_ratings"},
    "eval_item_knn": {"train_ratings", "test_ratings"},
    "eval_rating_blend": {"train_ratings", "test_ratings"},
    "eval_hybrid": {"eval_item_knn", "eval_pure_svd", "eval_popularity", "hybrid_tuning"},
    "evaluation": {
        f"eval_{m}" for m in ("popularity", "item_knn", "svd", "pure_svd", "hybrid", "rating_blend")
    },
    "recommendations": {
        "item_knn_model",
        "pure_svd_model",
        "popularity_model",
        "hybrid_tuning",
        "evaluation",
    },
    "published_recommendations": {"recommendations"},
}

QUERY = """
{
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { name
      schedules { name cronSchedule } sensors { name } jobs { name } } } }
  assetNodes { assetKey { path } groupName dependencyKeys { path }
      assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    exe = Path(sys.executable).with_name("dagster-webserver")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RECSYS_DATA_DIR": str(home / "data")}
    proc = subprocess.Popen(
        [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"webserver exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("webserver did not answer within 90 s")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_graphql_shows_location_graph_automation_and_checks(webserver):
    data = httpx.post(f"{webserver}/graphql", json={"query": QUERY}, timeout=60).json()["data"]
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "recsys"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    (repo,) = data["repositoriesOrError"]["nodes"]
    assert [s["name"] for s in repo["schedules"]] == ["nightly_schedule"]
    assert sorted(s["name"] for s in repo["sensors"]) == [
        "new_raw_file_sensor",
        "orphan_reaper_sensor",
    ]
    assert {j["name"] for j in repo["jobs"]} >= {"nightly", "tuning"}
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    for asset, upstream in EXPECTED_EDGES.items():
        got = {"/".join(d["path"]) for d in nodes[asset]["dependencyKeys"]}
        assert got == upstream, f"{asset}: {got} != {upstream}"
    checks = {c["name"]: c["blocking"] for c in nodes["ratings"]["assetChecksOrError"]["checks"]}
    assert checks == {"schema": True, "rating_range": True, "duplicate_pairs": True}
    rec_checks = nodes["recommendations"]["assetChecksOrError"]["checks"]
    assert {c["name"] for c in rec_checks} >= {"rows_per_user", "already_rated", "finite_scores"}
    assert all(c["blocking"] for c in rec_checks)
