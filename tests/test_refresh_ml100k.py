"""Issue 17's acceptance on MovieLens 100k: after a night, a file with 20 ratings by a brand-new
user and 3 new ratings by an existing one; the refresh publishes lists for both (none of their
rated items), every other user's rows byte-identical, in under a third of the night's time."""

from __future__ import annotations

import shutil
import time

import polars as pl
import pytest

from pipeline.__main__ import failure_reason
from pipeline.automation import nightly_job
from recsys_core.data.validate import ingest
from tests.conftest import ML100K
from tests.faults import (  # noqa: F401 (cli_env: a fixture used by name)
    cli,
    cli_env,
    current_run,
    materialize,
    run_settings,
)

pytestmark = [pytest.mark.slow, pytest.mark.ml100k]
NEW_USER, OLD_USER = 10_000, 1


def test_a_refresh_on_ml100k_serves_a_new_user_and_an_existing_one_only(tmp_path, cli_env, capsys):
    if not ML100K.exists():
        pytest.skip("ml-100k not available")
    root = tmp_path / "root"
    (root / "raw").mkdir(parents=True)
    shutil.copy(ML100K, root / "raw" / "u.data")
    start = time.perf_counter()
    fixed = run_settings({"hybrid": {"tune": False}})  # a night with the default hybrid: cheaper
    result = materialize(root, fixed, nightly_job.selection)
    night = time.perf_counter() - start
    assert result.success, failure_reason(result)
    ratings = ingest([ML100K]).ratings
    popular = ratings.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    seen = ratings.filter(pl.col("user_id") == OLD_USER)["item_id"]
    unseen = popular.filter(~pl.col("item_id").is_in(seen.implode()))["item_id"].head(3)
    items = [*popular["item_id"].head(20), *unseen]
    users, stars = [NEW_USER] * 20 + [OLD_USER] * 3, [5.0, 4.0] * 10 + [5.0, 5.0, 4.0]
    new = pl.DataFrame(
        {"user_id": users, "item_id": items, "rating": stars, "timestamp": 893_300_000}
    )
    lines = [f"{u}\t{i}\t{int(r)}\t{t}" for u, i, r, t in new.iter_rows()]
    (root / "raw" / "day.data").write_text("\n".join(lines) + "\n")
    cli_env(root)
    live = root / "published" / "recommendations.parquet"
    before, first = pl.read_parquet(live), current_run(root)
    start = time.perf_counter()
    code, out, err = cli(["refresh"], capsys)
    seconds = time.perf_counter() - start
    assert code == 0 and "2 user list(s) rewritten (1 new users)" in out, out + err
    after = pl.read_parquet(live)
    touched = pl.col("user_id").is_in([NEW_USER, OLD_USER])
    assert after.filter(~touched).equals(before.filter(~touched)), "an untouched row changed"
    fresh = after.filter(touched)
    assert fresh.group_by("user_id").len().sort("user_id").rows() == [
        (OLD_USER, 10),
        (NEW_USER, 10),
    ]
    rated = pl.concat([ratings.select("user_id", "item_id"), new.select("user_id", "item_id")])
    assert fresh.join(rated, on=["user_id", "item_id"], how="semi").is_empty()
    assert set(fresh["run_id"]) == {current_run(root)} and set(after["model_run_id"]) == {first}
    assert seconds < night / 3, f"refresh {seconds:.1f} s, night {night:.1f} s"
