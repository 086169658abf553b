"""The explicit model registry: every model class by name, in any fresh process."""

import subprocess
import sys

import numpy as np
import pytest

import recsys_core
from recsys_core import ConfigError, DataError, Hybrid, Popularity, RatingBlend, Recommender
from recsys_core.data.synthetic import generate_ratings
from recsys_core.models import registry

MODELS = [
    "BaselineOnly",
    "EASE",
    "Hybrid",
    "IALS",
    "KNNBaseline",
    "KNNBasic",
    "KNNWithMeans",
    "Popularity",
    "PureSVD",
    "RatingBlend",
    "SVD",
]


def test_every_model_class_is_registered_under_its_name():
    assert registry.names() == MODELS
    assert all(registry.registered(n) is getattr(recsys_core, n) for n in MODELS)


def test_an_unknown_name_is_a_config_error_naming_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'RatingBlend'"):
        registry.registered("RatingBlnd")


def test_a_subclass_is_not_registered_by_being_defined():
    class Custom(Popularity):
        pass

    with pytest.raises(ConfigError):
        registry.registered("Custom")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(type("Popularity", (Popularity,), {}))


def test_loading_an_unregistered_class_is_a_data_error(tmp_path):
    class Custom(Popularity):
        pass

    path = Custom().fit(generate_ratings(30, 20, 200, seed=1)).save(tmp_path / "c.npz")
    with pytest.raises(DataError, match="unknown model 'Custom'"):
        Recommender.load(path)


LOAD = """
import sys
import numpy as np
from recsys_core import Recommender
model = Recommender.load(sys.argv[1])
recs = model.recommend(5)
np.save(sys.argv[2], recs["score"].to_numpy())
print(type(model).__name__)
"""


@pytest.mark.parametrize(
    "model",
    [
        RatingBlend(components={"baseline": {"model": "BaselineOnly"}, "svd": {"model": "SVD"}}),
        Hybrid(components={"item_knn": {"model": "KNNWithMeans", "params": {"k": 5}}}, tune=False),
    ],
    ids=["RatingBlend", "Hybrid"],
)
def test_a_saved_model_loads_in_a_fresh_process(model, tmp_path):
    model.fit(generate_ratings(60, 40, 1_200, seed=2))
    path = model.save(tmp_path / "model.npz")
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(path), str(tmp_path / "scores.npy")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == type(model).__name__
    np.testing.assert_array_equal(
        np.load(tmp_path / "scores.npy"), model.recommend(5)["score"].to_numpy()
    )
