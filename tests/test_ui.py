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
    "ratings": {"raw_files"},
    "train_ratings": {"ratings"},
    "test_ratings": {"ratings"},
    "popularity_model": {"ratings"},
    "hybrid_tuning": {"train_ratings"},
    "tuned_hybrid": {"train_ratings"},
    "model_tuning": {"train_ratings"},
    "hybrid_model": {"hybrid_tuning", "hybrid_train_model", "popularity_model", "ratings"},
    "hybrid_train_model": {
        "hybrid_tuning",
        "popularity_train_model",
        "train_ratings",
        "tuned_hybrid",
    },
    "hybrid_metrics": {"hybrid_train_model", "train_ratings", "test_ratings"},
    "rating_blend_metrics": {"rating_blend_train_model", "train_ratings", "test_ratings"},
    "evaluation": {
        f"{m}_metrics"
        for m in ("popularity", "biased_mf", "hybrid", "rating_blend", "similar_items")
    },
    "recommendations": {"hybrid_model", "evaluation", "business_rules"},
    "business_rules": {"ratings"},
    "item_metadata": {"raw_files"},
    "run_record": {
        "business_rules",
        "evaluation",
        "hybrid_tuning",
        "ingest_summary",
        "ratings",
        "raw_files",
        "recommendations",
    },
    "report": {
        "evaluation",
        "item_metadata",
        "quarantine",
        "ratings",
        "recommendations",
        "run_record",
        "similar_items",
    },
    "published_recommendations": {
        "default_list",
        "evaluation",
        "recommendations",
        "report",
        "run_record",
        "similar_items",
    },
    "refresh_model": {"hybrid_model", "raw_files", "published_recommendations"},
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
def home(tmp_path_factory) -> Path:
    """The webserver's DAGSTER_HOME; its data root is ``home/data``."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


@pytest.fixture(scope="module")
def webserver(home):
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
    assert {j["name"] for j in repo["jobs"]} >= {"nightly", "refresh", "tuning"}
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    for asset, upstream in EXPECTED_EDGES.items():
        got = {"/".join(d["path"]) for d in nodes[asset]["dependencyKeys"]}
        assert got == upstream, f"{asset}: {got} != {upstream}"
    checks = {c["name"]: c["blocking"] for c in nodes["ratings"]["assetChecksOrError"]["checks"]}
    assert checks == {"schema": True, "rating_range": True, "duplicate_pairs": True}
    rec_checks = nodes["recommendations"]["assetChecksOrError"]["checks"]
    wanted = {"rows_per_user", "already_rated", "finite_scores", "business_rules"}
    assert {c["name"] for c in rec_checks} >= wanted
    assert all(c["blocking"] for c in rec_checks)


METADATA_QUERY = """
{
  assetNodes { assetKey { path }
    assetMaterializations(limit: 1) { runId metadataEntries { label __typename
      ... on TableSchemaMetadataEntry { schema { columns { name type description } } } } } }
}
"""
DESCRIBED_TABLES = ("ratings", "recommendations", "published_recommendations")
"""Tables whose every column must carry a description in the UI: the warehouse's ratings and
the lists people consume."""


@pytest.fixture(scope="module")
def materialized(home) -> str:
    """One run of the whole graph (evaluation.k 5) in the webserver's DAGSTER_HOME."""
    import dagster as dg

    from pipeline.definitions import ASSETS, CHECKS, resources
    from tests.conftest import random_ratings

    data = home / "data"
    (data / "raw").mkdir(parents=True)
    random_ratings(n_users=40, n_items=60, seed=1).write_csv(data / "raw" / "r.csv")
    config = {"publish": {"min_lift": 1.0}, "evaluation": {"k": 5}}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize(
            [*ASSETS, *CHECKS],
            instance=instance,
            resources=resources(str(data)),
            run_config={"resources": {"settings": {"config": config}}},
            raise_on_error=False,
        )
    assert result.success, "the run for the UI failed"
    return result.run_id


@pytest.mark.slow
def test_ui_describes_every_column_and_labels_metrics_with_k(webserver, materialized):
    response = httpx.post(f"{webserver}/graphql", json={"query": METADATA_QUERY}, timeout=60)
    body = response.json()
    assert "errors" not in body, body.get("errors")
    latest = {
        "/".join(n["assetKey"]["path"]): n["assetMaterializations"][0]
        for n in body["data"]["assetNodes"]
        if n["assetMaterializations"]
    }
    assert {m["runId"] for m in latest.values()} == {materialized}
    for table in DESCRIBED_TABLES:
        assert table in latest, f"{table} has no materialization in the UI"
        entries = {e["label"]: e for e in latest[table]["metadataEntries"]}
        schema = entries.get("dagster/column_schema")
        assert schema, f"{table}: no column schema"
        columns = schema["schema"]["columns"]
        assert columns, f"{table}: empty column schema"
        bare = [c["name"] for c in columns if not (c["description"] or "").strip()]
        assert not bare, f"{table}: columns without a description: {bare}"
    labels = {e["label"] for e in latest["evaluation"]["metadataEntries"]}
    assert {"hybrid/ndcg@5", "popularity/ndcg@5"} <= labels, sorted(labels)
    at_k = sorted(
        f"{asset}: {e['label']}"
        for asset, m in latest.items()
        for e in m["metadataEntries"]
        if "@" in e["label"] and not e["label"].endswith("@5")
    )
    assert not at_k, f"metadata labelled with another k than the configured 5: {at_k}"
