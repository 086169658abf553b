"""GridSearchCV parity: grid expansion, trials, best parameters, and the tuning job."""

import json

import dagster as dg

from pipeline.definitions import defs, resources
from pipeline.settings import RecsysSettings
from recsys_core import KNNWithMeans
from recsys_core.evaluation.grid import best_params, expand, grid_search
from tests.conftest import random_ratings


def test_expand_nested_grid_in_order():
    combos = expand({"k": [20, 40], "sim_options": {"name": ["msd", "cosine"]}})
    assert combos == [
        {"k": 20, "sim_options": {"name": "msd"}},
        {"k": 20, "sim_options": {"name": "cosine"}},
        {"k": 40, "sim_options": {"name": "msd"}},
        {"k": 40, "sim_options": {"name": "cosine"}},
    ]


def test_grid_search_trials_and_best():
    trials = grid_search(KNNWithMeans, {"min_k": 1}, {"k": [1, 20]}, random_ratings(), n_splits=3)
    assert trials.columns == [
        "params",
        "rmse_mean",
        "rmse_std",
        "mae_mean",
        "mae_std",
        "ndcg_mean",
        "ndcg_std",
    ]
    assert trials.height == 2
    by_rmse = best_params(trials, by="rmse")
    lowest = trials.sort("rmse_mean")["params"][0]
    assert by_rmse == json.loads(lowest)
    assert best_params(trials) == json.loads(trials.sort("ndcg_mean", descending=True)["params"][0])


def test_tuning_job_writes_trials_and_nightly_models_can_use_them(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path))  # the job's own resources' root
    (tmp_path / "raw").mkdir()
    random_ratings(n_users=40, n_items=60, seed=2).write_csv(tmp_path / "raw" / "r.csv")
    tuning = {
        "grid": {"item_knn": {"k": [3, 7]}, "biased_mf": {"n_factors": [2, 3]}},
        "n_splits": 2,
        "apply": True,
    }
    job = defs.resolve_job_def("tuning")
    assert "model_tuning" not in {n.name for n in defs.resolve_job_def("nightly").graph.nodes}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources=resources(str(tmp_path)),
            run_config={"resources": {"settings": {"config": {"tuning": tuning}}}},
        )
    assert result.success
    mat = result.asset_materializations_for_node("model_tuning")[0]
    trials = mat.metadata["trials"].value
    # a user's grid replaces the default grid whole: 2 candidates per model, not 2 x 2
    assert [t["model"] for t in trials] == ["item_knn"] * 2 + ["biased_mf"] * 2
    best = json.loads((tmp_path / "warehouse" / "model_tuning.json").read_text())
    knn = max((t for t in trials if t["model"] == "item_knn"), key=lambda t: t["ndcg_mean"])
    mf = min((t for t in trials if t["model"] == "biased_mf"), key=lambda t: t["rmse_mean"])
    assert best["item_knn"] == json.loads(knn["params"])
    assert best["biased_mf"] == json.loads(mf["params"])
    data_root = resources(str(tmp_path))["data_root"]
    settings = RecsysSettings(data_root=data_root, tuning=tuning).effective
    assert settings.models.item_knn.k == best["item_knn"]["k"]
    assert settings.models.biased_mf.n_factors == best["biased_mf"]["n_factors"]
    plain = RecsysSettings(data_root=data_root).effective
    assert plain.models.item_knn.k == 40, "tuned values must not apply unless tuning.apply"


def test_the_default_grids_hold_each_models_default():
    from recsys_core.params import as_dict
    from recsys_core.settings import DEFAULT_GRID, Settings

    models = Settings().models
    for name, grid in DEFAULT_GRID.items():
        default = as_dict(getattr(models, name))
        combos = expand(grid)
        assert any(
            all(_matches(default[key], value) for key, value in combo.items()) for combo in combos
        ), f"{name}: its default {default} is not a candidate of {grid}"


def _matches(default, value) -> bool:
    if isinstance(value, dict):
        return all(default[key] == v for key, v in value.items())
    return default == value
