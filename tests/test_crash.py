"""SIGKILL at named points of a real run never leaves a partial published table; the previous
one stays readable; the next run cleans the temporary files and succeeds."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from recsys_core.publish.files import TMP_MARK
from tests.conftest import SMOKE_YAML, random_ratings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

# (failpoint, whether the live recommendations must still be the previous run's)
KILL_POINTS = [
    ("before-rename:warehouse/ratings.parquet", True),  # mid-way through writing Parquet
    ("before-rename:models/hybrid_model.npz", True),  # mid-way through saving a model
    ("before-rename:warehouse/recommendations.parquet", True),  # staging the new lists
    ("publish:before-live", True),  # history written, live table not yet replaced
    ("before-rename:published/recommendations.parquet", True),  # during the live swap
    ("before-rename:published/metrics.parquet", False),  # live lists swapped, metrics not yet
]


def run(root: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "RECSYS_FAILPOINT")}
    (root / "recsys.yaml").write_text(SMOKE_YAML)
    env |= {"RECSYS_DATA_DIR": str(root), "OPENBLAS_NUM_THREADS": "1"}
    env["RECSYS_CONFIG"] = str(root / "recsys.yaml")
    if failpoint:
        env["RECSYS_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{TMP_MARK}*")]


def test_sigkill_at_each_point_keeps_the_live_table_whole(tmp_path):
    (tmp_path / "raw").mkdir()
    random_ratings(n_users=40, n_items=60, seed=2).write_csv(tmp_path / "raw" / "a.csv")
    first = run(tmp_path)
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    live = tmp_path / "published" / "recommendations.parquet"
    previous = live.read_bytes()
    # new data, so an unfinished run would change the table if it leaked through
    random_ratings(n_users=45, n_items=60, seed=3).write_csv(tmp_path / "raw" / "b.csv")
    for point, unchanged in KILL_POINTS:
        killed = run(tmp_path, point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr.decode()[-2000:])
        table = pl.read_parquet(live)  # always readable, never partial
        assert table.height > 0
        if unchanged:
            assert live.read_bytes() == previous, f"live table changed when killed at {point}"
        if point.startswith("before-rename:"):
            assert temps(tmp_path), f"expected the interrupted write's temporary file at {point}"
    final = run(tmp_path)
    assert final.returncode == 0, final.stderr.decode()[-3000:]
    assert temps(tmp_path) == [], "the rerun left temporary files behind"
    table = pl.read_parquet(live)
    assert table["user_id"].n_unique() == 45, "the rerun did not publish the new data"
    current = (tmp_path / "published" / "CURRENT.json").read_text()
    assert table["run_id"][0] in current
