"""Each rule of the layered configuration."""

import copy
import json

import pytest

from recsys_core import ConfigError, Hybrid
from recsys_core.params import as_dict
from recsys_core.ranking.hybrid import BlendParams
from recsys_core.settings import (
    HYBRID_COMPONENTS,
    TUNED_BY,
    Settings,
    hybrid_params,
    merge,
    resolve,
)

FILE = (
    "recsys.yaml",
    {"topn": {"n": 5}, "models": {"popularity": {"damping": 2.0, "score": "count"}}},
)
RUN = ("run config", {"topn": {"n": 7}, "models": {"popularity": {"window_days": 30}}})


def test_defaults_without_layers():
    assert resolve([]) == Settings()


def test_later_layer_wins_key_by_key():
    s = resolve([FILE, RUN])
    assert s.topn.n == 7  # run config beats the file
    assert s.models.popularity.damping == 2.0  # the file beats the default (5.0)


def test_nested_sections_merge_rather_than_replace():
    s = resolve([FILE, RUN])
    pop = s.models.popularity
    assert (pop.damping, pop.score, pop.window_days) == (2.0, "count", 30)
    deep = merge({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 3}}})
    assert deep == {"a": {"b": {"c": 1, "d": 3}}}


def test_no_layer_is_mutated_and_result_is_independent():
    file_before, run_before = copy.deepcopy(FILE[1]), copy.deepcopy(RUN[1])
    merged = merge(FILE[1], RUN[1])
    resolve([FILE, RUN])
    assert FILE[1] == file_before and RUN[1] == run_before
    merged["models"]["popularity"]["damping"] = -1
    merged["topn"]["n"] = 99
    assert FILE[1] == file_before and RUN[1] == run_before
    with pytest.raises(ValueError, match="frozen"):
        resolve([FILE]).topn.n = 3


def test_unknown_key_names_key_layer_and_closest():
    with pytest.raises(ConfigError) as err:
        resolve([FILE, ("run config", {"models": {"popularity": {"dampnig": 1.0}}})])
    msg = str(err.value)
    assert "'models.popularity.dampnig'" in msg and "run config" in msg
    assert "did you mean 'models.popularity.damping'" in msg
    with pytest.raises(
        ConfigError, match=r"unknown key 'tpon' in recsys.yaml; did you mean 'topn'\?"
    ):
        resolve([("recsys.yaml", {"tpon": {"n": 1}})])


def test_wrong_type_names_key_and_layer():
    with pytest.raises(
        ConfigError, match=r"^invalid value for 'topn.n' in recsys.yaml: 'ten' \(.*integer"
    ):
        resolve([("recsys.yaml", {"topn": {"n": "ten"}}), RUN])
    with pytest.raises(ConfigError, match=r"'split' in run config: 0.2 \(.*dictionary"):
        resolve([("run config", {"split": 0.2})])
    with pytest.raises(ConfigError, match=r"'split.random_state' in run config: True \(.*integer"):
        resolve([("run config", {"split": {"random_state": True}})])  # True is not an int


def test_bad_value_names_parameter_and_layer():
    with pytest.raises(ConfigError, match=r"'split.test_fraction' in run config: 1.5 \(.*less"):
        resolve([("run config", {"split": {"test_fraction": 1.5}})])


def test_an_error_in_a_later_layer_names_that_layer():
    good, bad = ("recsys.yaml", {"topn": {"n": 5}}), ("run config", {"topn": {"n": 0}})
    with pytest.raises(ConfigError, match=r"'topn.n' in run config: 0"):
        resolve([good, bad])


def test_any_valid_values_allowed():
    s = resolve(
        [("f", {"ingest": {"rating_scale": [0, 10], "sep": "::"}, "evaluation": {"k": 20}})]
    )
    assert s.ingest.rating_scale == (0, 10) and s.ingest.sep == "::" and s.evaluation.k == 20


def test_a_component_set_to_null_is_removed():
    s = resolve(
        [("recsys.yaml", {"models": {"rating_blend": {"components": {"knn_users": None}}}})]
    )
    assert "knn_users" not in s.models.rating_blend.components
    assert "svd" in s.models.rating_blend.components


def test_a_user_grid_replaces_the_default_grid_whole():
    default = resolve([]).tuning.grid
    assert set(default) == set(TUNED_BY) and "sim_options" in default["item_knn"]
    narrowed = resolve([("recsys.yaml", {"tuning": {"grid": {"item_knn": {"k": [10]}}}})])
    assert narrowed.tuning.grid == {"item_knn": {"k": [10]}}  # nothing merged back in
    assert narrowed.tuning.n_splits == 3  # the rest of the section still merges key by key
    later = resolve(
        [
            ("recsys.yaml", {"tuning": {"grid": {"item_knn": {"k": [10]}}}}),
            ("run config", {"tuning": {"grid": {"biased_mf": {"n_factors": [5, 10, 20]}}}}),
        ]
    )
    assert later.tuning.grid == {"biased_mf": {"n_factors": [5, 10, 20]}}


def test_the_hybrid_section_is_the_blend_params_plus_its_components():
    s = resolve([("recsys.yaml", {"hybrid": {"weights": {"ials": 2.0}, "tune": False}})])
    assert isinstance(s.hybrid, BlendParams) and s.hybrid.components == ["ease", "ials"]
    params = hybrid_params(s)
    assert set(params["components"]) == {"ease", "ials"}
    assert params["components"]["ease"] == {"model": "EASE", "params": as_dict(s.models.ease)}
    assert params["fallback"]["model"] == "Popularity"
    hybrid = Hybrid(**params)
    assert hybrid.params.weights == {"ials": 2.0} and hybrid.params.tune is False


def test_hybrid_components_are_a_list_a_layer_replaces_whole():
    old = {"hybrid": {"components": ["item_knn", "pure_svd", "popularity"]}}
    s = resolve([("recsys.yaml", old), ("run", {"hybrid": {"components": ["pure_svd"]}})])
    assert s.hybrid.components == ["pure_svd"]
    assert set(hybrid_params(s)["components"]) == {"pure_svd"}
    assert set(HYBRID_COMPONENTS) == {"ease", "ials", "item_knn", "pure_svd", "popularity"}
    with pytest.raises(ConfigError, match="did you mean 'ease'"):
        resolve([("recsys.yaml", {"hybrid": {"components": ["eas"]}})])
    with pytest.raises(ConfigError, match="named twice"):
        resolve([("recsys.yaml", {"hybrid": {"components": ["ease", "ease"]}})])
    with pytest.raises(ConfigError, match=r"hybrid\.weights\.item_knn"):
        resolve([("recsys.yaml", {"hybrid": {"weights": {"item_knn": 1.0}}})])


def test_publish_min_lift_is_at_least_one_or_off():
    assert resolve([]).publish.min_lift == 1.5
    with pytest.raises(ConfigError, match="min_lift"):
        resolve([("recsys.yaml", {"publish": {"min_lift": 0.9}})])
    assert resolve([("recsys.yaml", {"publish": {"min_lift": 0}})]).publish.min_lift == 0


def test_biased_mf_is_the_svd_section_and_the_old_key_says_so():
    s = resolve([("recsys.yaml", {"models": {"biased_mf": {"n_factors": 12}}})])
    assert s.models.biased_mf.n_factors == 12
    with pytest.raises(ConfigError, match=r"'models.svd' in recsys.yaml is now 'models.biased_mf'"):
        resolve([("recsys.yaml", {"models": {"svd": {"n_factors": 12}}})])


def test_to_dict_is_json_ready_and_round_trips():
    s = resolve([FILE, RUN])
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["ingest"]["rating_scale"] == [1.0, 5.0]
    assert resolve([("saved", d)]) == s
