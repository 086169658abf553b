"""Each bad configuration value is a ConfigError naming its key; good YAML values go through.

Values are written as YAML, as a user writes them in ``recsys.yaml``.
"""

import copy
import re

import numpy as np
import pytest
import yaml

from recsys_core import SVD, ConfigError, KNNWithMeans, Popularity
from recsys_core.settings import resolve


def from_yaml(text: str):
    return resolve([("recsys.yaml", yaml.safe_load(text))])


def fails(text: str, key: str) -> str:
    """The message of resolving ``text``, which must be an error naming ``key``."""
    with pytest.raises(ConfigError) as err:
        from_yaml(text)
    message = str(err.value)
    assert f"'{key}' in recsys.yaml" in message, message
    return message


# -- one test per bad value -----------------------------------------------------------------------
def test_negative_cold_item_slots():
    fails("hybrid: {cold_item_slots: -3}", "hybrid.cold_item_slots")


def test_min_ndcg_above_one():
    fails("publish: {min_ndcg: 7}", "publish.min_ndcg")


def test_negative_max_ndcg_drop():
    fails("publish: {max_ndcg_drop: -1}", "publish.max_ndcg_drop")


def test_infinite_hybrid_weight():
    assert yaml.safe_load("w: .inf")["w"] == float("inf")
    message = fails("hybrid: {weights: {pure_svd: .inf}}", "hybrid.weights.pure_svd")
    assert "finite" in message


def test_nan_refused():
    fails("models: {popularity: {damping: .nan}}", "models.popularity.damping")


def test_negative_tune_users():
    fails("hybrid: {tune_users: -5}", "hybrid.tune_users")


def test_negative_skip_lines():
    fails("ingest: {skip_lines: -1}", "ingest.skip_lines")


def test_empty_separator():
    fails("ingest: {sep: ''}", "ingest.sep")


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("99 99 * * *", "minute '99' is outside 0-59"),
        ("0 24 * * *", "hour '24' is outside 0-23"),
        ("0 2 0 * *", "day of month '0' is outside 1-31"),
        ("0 2 * 13 *", "month '13' is outside 1-12"),
        ("0 2 * * 8", "day of week '8' is outside 0-7"),
        ("0 2 * * funday", "day of week 'funday' is outside"),
        ("*/0 * * * *", "n >= 1"),
        ("0 2 * *", "expected 5 fields"),
        ("0 5-2 * * *", "runs backwards"),
        ("0 2 ? * *", "is not"),
    ],
)
def test_invalid_cron(cron, why):
    message = fails(f"automation: {{cron: '{cron}'}}", "automation.cron")
    assert why in message


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "*/15 0-6 * * mon-fri", "0 3 1,15 jan-jun/2 sun", "0 0-23/6 * * 7"]
)
def test_valid_cron(cron):
    assert from_yaml(f"automation: {{cron: '{cron}'}}").automation.cron == cron


def test_unknown_time_zone():
    fails("automation: {timezone: Mars/Olympus_Mons}", "automation.timezone")
    assert from_yaml("automation: {timezone: Europe/Paris}").automation.timezone == "Europe/Paris"


def test_string_learning_rate_is_not_a_number():
    with pytest.raises(ConfigError, match=r"^invalid value for 'lr_all' in SVD: '0.01' \("):
        SVD(lr_all="0.01")


def test_true_is_not_an_int():
    with pytest.raises(ConfigError, match=r"'k' in KNNWithMeans: True"):
        KNNWithMeans(k=True)
    fails("topn: {n: true}", "topn.n")


def test_numpy_scalars_are_plain_values():
    model = KNNWithMeans(k=np.int64(5), rank_shrinkage=np.float32(2.0))
    assert model.params.k == 5 and type(model.params.k) is int


# -- good values ----------------------------------------------------------------------------------
def test_lists_from_yaml_set_tuples_and_variable_length_lists():
    s = from_yaml(
        """
        ingest: {rating_scale: [0.5, 10]}
        tuning: {grid: {item_knn: {k: [5, 10, 20, 40, 80]}}}
        """
    )
    assert s.ingest.rating_scale == (0.5, 10.0)
    assert s.tuning.grid["item_knn"]["k"] == [5, 10, 20, 40, 80]
    fails("ingest: {rating_scale: [1, 2, 3]}", "ingest.rating_scale")
    fails("ingest: {rating_scale: [5, 1]}", "ingest.rating_scale")


def test_a_user_grid_narrows_the_default_grid():
    default = from_yaml("{}").tuning.grid
    assert default["item_knn"]["k"] == [20, 40] and "biased_mf" in default
    s = from_yaml("tuning: {grid: {item_knn: {k: [40]}}}")
    assert s.tuning.grid == {"item_knn": {"k": [40]}}


def test_a_bad_grid_names_its_key():
    message = fails("tuning: {grid: {item_knn: {kk: [1]}}}", "tuning.grid.item_knn.kk")
    assert "did you mean 'tuning.grid.item_knn.k'" in message
    fails("tuning: {grid: {item_knn: {k: []}}}", "tuning.grid.item_knn.k")


def test_layers_are_never_mutated():
    layers = [
        ("recsys.yaml", yaml.safe_load("tuning: {grid: {item_knn: {k: [5]}}}\ntopn: {n: 4}")),
        ("run config", {"hybrid": {"weights": {"ease": 2.0}}, "topn": {"n": 6}}),
    ]
    before = copy.deepcopy(layers)
    s = resolve(layers)
    assert layers == before
    s.tuning.grid["item_knn"]["k"].append(99)  # the result shares nothing with the layers
    assert layers == before


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError) as err:
        from_yaml("hybrid: {cold_item_slot: 2}")
    expected = "unknown key 'hybrid.cold_item_slot' in recsys.yaml; "
    expected += "did you mean 'hybrid.cold_item_slots'?"
    assert str(err.value) == expected
    with pytest.raises(ConfigError, match=re.escape("did you mean 'window_days'?")):
        Popularity(window_day=3)
