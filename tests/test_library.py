"""Library-wide properties: no orchestrator import, synthetic data is deterministic."""

import subprocess
import sys

import polars as pl

from recsys_core.data.synthetic import demo_ratings, generate_ratings


def test_importing_recsys_core_does_not_import_dagster():
    code = "import sys, recsys_core, recsys_core.data.validate; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_synthetic_is_deterministic_distinct_and_long_tailed():
    a = generate_ratings(200, 150, 4000, seed=3, n_new_users=4, n_new_items=5)
    b = generate_ratings(200, 150, 4000, seed=3, n_new_users=4, n_new_items=5)
    assert a.equals(b)
    assert not a.equals(generate_ratings(200, 150, 4000, seed=4, n_new_users=4, n_new_items=5))
    assert a.select(pl.struct("user_id", "item_id").is_unique().all()).item()
    assert a["rating"].is_in([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    counts = a.group_by("item_id").len()["len"].sort(descending=True)
    assert counts.head(15).sum() > 3 * counts.tail(15).sum(), "item popularity is not long-tailed"
    new_users = a.filter(pl.col("user_id") > 200).group_by("user_id").len()
    new_items = a.filter(pl.col("item_id") > 150).group_by("item_id").len()
    assert new_users.height == 4 and new_users["len"].max() <= 3
    assert new_items.height == 5 and new_items["len"].max() <= 3


def test_demo_data_shape():
    demo = demo_ratings()
    assert 25_000 < demo.height < 35_000
    assert demo.columns == ["user_id", "item_id", "rating", "timestamp"]
