"""Grid search's choice of the best candidate, on trial tables whose answer is known by hand
(library part of the GridSearchCV parity; replaces re-sorting the table the way the code does)."""

import json

import polars as pl
import pytest

from recsys_core.errors import ConfigError
from recsys_core.evaluation.grid import best_params


def trials(rows: list[tuple[dict, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "params": [json.dumps(p) for p, _, _ in rows],
            "rmse_mean": [r for _, r, _ in rows],
            "ndcg_mean": [n for _, _, n in rows],
        }
    )


TABLE = trials(
    [
        ({"k": 10}, 0.95, 0.20),
        ({"k": 20}, 0.91, 0.25),  # lowest RMSE
        ({"k": 40}, 0.93, 0.31),  # highest NDCG
        ({"k": 80}, 0.94, 0.28),
    ]
)


def test_best_by_ndcg_is_the_highest_and_by_rmse_the_lowest():
    assert best_params(TABLE) == {"k": 40}
    assert best_params(TABLE, by="ndcg") == {"k": 40}
    assert best_params(TABLE, by="rmse") == {"k": 20}


def test_ties_keep_the_earlier_candidate():
    tied = trials([({"k": 5}, 0.9, 0.3), ({"k": 1}, 0.9, 0.3), ({"k": 9}, 0.9, 0.3)])
    assert best_params(tied) == {"k": 5}
    assert best_params(tied, by="rmse") == {"k": 5}


def test_an_unknown_criterion_is_a_config_error():
    with pytest.raises(ConfigError, match="'by'"):
        best_params(TABLE, by="mae")
