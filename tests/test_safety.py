"""Safety: paths stay under the data root; oversized settings fail fast with a clear error."""

import pytest

import recsys_core.memory as memory
from pipeline.resources import DataRoot
from recsys_core import ConfigError, Hybrid, KNNWithMeans
from recsys_core.data.synthetic import generate_ratings
from tests.conftest import random_ratings


def test_paths_are_confined_to_the_data_root(tmp_path):
    root = DataRoot(root=str(tmp_path / "data"))
    assert str(root.upath("warehouse", "ratings.parquet")).startswith(str(tmp_path / "data"))
    for bad in ("../../outside.parquet", "/etc/passwd", "a/../../../b", "..", ""):
        with pytest.raises(ValueError, match="escapes the data root"):
            root.upath("warehouse", bad)


@pytest.fixture
def small_machine(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)  # 1 MiB free


def test_knn_keeping_every_pair_fails_fast_on_a_small_machine(small_machine):
    data = generate_ratings(300, 400, 20_000, seed=1)
    with pytest.raises(ConfigError, match=r"max_neighbors=None .* set max_neighbors"):
        KNNWithMeans().fit(data)
    KNNWithMeans(max_neighbors=5).fit(random_ratings())  # bounded: fine


def test_huge_top_n_block_fails_fast(small_machine):
    model = KNNWithMeans(max_neighbors=5).fit(generate_ratings(300, 400, 20_000, seed=1))
    with pytest.raises(ConfigError, match="block_size=100000"):
        model.recommend(5, block_size=100_000)


def test_huge_tuning_sample_fails_fast(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)
    with pytest.raises(ConfigError, match="tune_users"):
        Hybrid(components={"pop": {"model": "Popularity"}}, tune_users=1_000_000).fit(
            random_ratings()
        )
