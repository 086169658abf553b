"""Every bad value of the issue is refused by ``python -m pipeline config FILE`` (exit 2, the key
named) and by a run with that project file (it fails at its first step naming the key, before
any work)."""

import dagster as dg
import pytest

from pipeline.__main__ import failure_reason, main
from pipeline.definitions import ASSETS, CHECKS, resources
from tests.conftest import random_ratings

BAD = {
    "hybrid.cold_item_slots": "hybrid: {cold_item_slots: -3}",
    "publish.min_ndcg": "publish: {min_ndcg: 7}",
    "publish.max_ndcg_drop": "publish: {max_ndcg_drop: -1}",
    "hybrid.weights.ease": "hybrid: {weights: {ease: .inf}}",
    "hybrid.tune_users": "hybrid: {tune_users: -5}",
    "ingest.skip_lines": "ingest: {skip_lines: -1}",
    "ingest.sep": "ingest: {sep: ''}",
    "automation.cron": "automation: {cron: '99 99 * * *'}",
    "models.biased_mf.lr_all": "models: {biased_mf: {lr_all: '0.01'}}",
}


@pytest.mark.parametrize("key", BAD)
def test_config_command_refuses_naming_the_key(key, tmp_path, capsys):
    path = tmp_path / "recsys.yaml"
    path.write_text(BAD[key] + "\n")
    assert main(["config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"'{key}' in {path}" in err, err


def test_config_command_prints_the_effective_settings(tmp_path, capsys):
    path = tmp_path / "recsys.yaml"
    path.write_text("topn: {n: 7}\ntuning: {grid: {item_knn: {k: [5]}}}\n")
    assert main(["config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n: 7" in out and "k:\n      - 5" in out and "biased_mf" not in out.split("grid:")[1]


@pytest.mark.parametrize("key", BAD)
def test_a_run_with_the_bad_value_fails_first_naming_the_key(key, tmp_path, monkeypatch):
    path = tmp_path / "recsys.yaml"
    path.write_text(BAD[key] + "\n")
    monkeypatch.setenv("RECSYS_CONFIG", str(path))
    (tmp_path / "raw").mkdir()
    random_ratings(n_users=20, n_items=30, seed=1).write_csv(tmp_path / "raw" / "r.csv")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*ASSETS, *CHECKS],
            instance=instance,
            resources=resources(str(tmp_path)),
            raise_on_error=False,
        )
    assert not result.success
    assert f"'{key}'" in failure_reason(result)
    assert not (tmp_path / "warehouse").exists(), "a misconfigured run did work"
