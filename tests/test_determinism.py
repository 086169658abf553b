"""Same input and settings give the same published content, whatever the block sizes or the
number of BLAS threads (separate processes, so the thread count really differs)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ML100K, SMOKE_YAML, random_ratings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CONTENT = ["user_id", "rank", "item_id", "score", "source", "explanation"]


def published_content(
    root: Path, threads: int, config: str, dagster_home: Path | None = None
) -> pl.DataFrame:
    """Run ``python -m pipeline run`` on ``root`` with ``config`` as the project file; the
    published lists. ``dagster_home``: a persistent instance (executors other than in-process
    need one); none by default."""
    (root / "recsys.yaml").write_text(config + SMOKE_YAML)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "RECSYS_FAILPOINT")}
    env |= {
        "RECSYS_DATA_DIR": str(root),
        "RECSYS_CONFIG": str(root / "recsys.yaml"),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    if dagster_home is not None:
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env["DAGSTER_HOME"] = str(dagster_home)
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    return pl.read_parquet(root / "published" / "recommendations.parquet").select(CONTENT)


def twice(tmp_path: Path, raw: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    runs = []
    for name, threads, config in (
        ("a", 1, "topn: {block_size: 37}\nmodels: {item_knn: {block_size: 61}}\n"),
        ("b", 2, "topn: {}\n"),
    ):
        root = tmp_path / name
        (root / "raw").mkdir(parents=True)
        shutil.copy(raw, root / "raw" / raw.name)
        runs.append(published_content(root, threads, config))
    return runs[0], runs[1]


def test_identical_content_across_runs_block_sizes_and_threads(tmp_path):
    raw = tmp_path / "r.csv"
    random_ratings(n_users=60, n_items=80, seed=5).write_csv(raw)
    a, b = twice(tmp_path, raw)
    assert a.equals(b)


@pytest.mark.ml100k
def test_ml100k_consecutive_runs_identical(tmp_path):
    if not ML100K.exists():
        pytest.skip("ml-100k not available")
    a, b = twice(tmp_path, ML100K)
    assert a.height == 9430 and a.equals(b)
