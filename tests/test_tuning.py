"""GridSearchCV parity: grid expansion, trials, best parameters, and the tuning job."""

import json

import dagster as dg
import polars as pl

from pipeline.config import RecsysSettings
from pipeline.definitions import defs
from pipeline.resources import DataRoot
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


def test_tuning_job_writes_trials_and_nightly_models_can_use_them(tmp_path):
    (tmp_path / "raw").mkdir()
    random_ratings(n_users=40, n_items=60, seed=2).write_csv(tmp_path / "raw" / "r.csv")
    overrides = {
        "tuning": {
            "grid": {"item_knn": {"k": [3, 7]}, "svd": {"n_factors": [2, 3]}},
            "n_splits": 2,
            "apply": True,
        }
    }
    job = defs.resolve_job_def("tuning")
    assert "model_tuning" not in {n.name for n in defs.resolve_job_def("nightly").graph.nodes}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"data_root": DataRoot(root=str(tmp_path)), "settings": RecsysSettings()},
            run_config={"resources": {"settings": {"config": {"overrides": overrides}}}},
        )
    assert result.success
    trials = pl.read_parquet(tmp_path / "warehouse" / "tuning_trials.parquet")
    # the overrides merge key by key into the default grid: k x sim_options.name, n_factors x reg
    assert trials["model"].to_list() == ["item_knn"] * 4 + ["svd"] * 4
    best = json.loads((tmp_path / "models" / "best_params.json").read_text())
    assert best["item_knn"]["k"] in (3, 7) and best["svd"]["n_factors"] in (2, 3)
    settings = RecsysSettings(overrides=overrides).effective(
        tmp_path / "models" / "best_params.json"
    )
    assert settings.models.item_knn.k == best["item_knn"]["k"]
    assert settings.models.svd.n_factors == best["svd"]["n_factors"]
    plain = RecsysSettings(overrides={}).effective(tmp_path / "models" / "best_params.json")
    assert plain.models.item_knn.k == 40, "tuned values must not apply unless tuning.apply"
