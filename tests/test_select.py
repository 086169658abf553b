"""Validation-only hyperparameter selection: known best, budget, warm start, inputs used."""

from __future__ import annotations

import inspect
import itertools
import json

import numpy as np
import polars as pl
import pytest
from pydantic import Field

from recsys_core.data.ids import RatingData
from recsys_core.data.split import random_split
from recsys_core.errors import ConfigError
from recsys_core.evaluation.select import DEFAULT_GRIDS, select
from recsys_core.models.base import Recommender
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.params import Params
from tests.conftest import random_ratings


class PlantedParams(Params):
    """One knob: the item index the model puts first for everyone."""

    favourite: int = Field(default=0, ge=0)
    offset: float = 0.0


FITTED_ON: list[int] = []


class PlantedForSelect(Recommender):
    """Scores item ``i`` as ``-|i - favourite|``: its top-1 is ``favourite``."""

    Params = PlantedParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        FITTED_ON.append(ratings.height)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        items = np.arange(self.data.n_items, dtype=np.float64)
        return np.tile(-np.abs(items - self.params.favourite), (len(users), 1))


@pytest.fixture
def planted() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train: every user rated items 100..109; validation: each user's only liked item is 3."""
    users = np.arange(1, 21)
    train = pl.DataFrame(
        {
            "user_id": np.repeat(users, 10),
            "item_id": np.tile(np.arange(100, 110), 20),
            "rating": np.full(200, 3.0),
        }
    ).vstack(pl.DataFrame({"user_id": [1] * 8, "item_id": np.arange(8), "rating": [2.0] * 8}))
    train = train.with_columns(pl.col("user_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    validation = pl.DataFrame(
        {"user_id": users[1:], "item_id": np.full(19, 3), "rating": np.full(19, 5.0)}
    ).with_columns(pl.col("user_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    return train, validation


def test_picks_the_known_best_candidate_and_fits_on_train_only(planted):
    train, validation = planted
    FITTED_ON.clear()
    grid = {"favourite": [0, 5, 3, 7]}
    result = select(PlantedForSelect, {"offset": 1.0}, grid, train, validation, k=5)
    assert result.params == {"offset": 1.0, "favourite": 3}
    trials = result.trials
    assert trials.columns == ["params", "stage", "ndcg", "precision", "seconds"]
    assert (trials["stage"] == "grid").all(), "the best is inside the grid: no edge steps"
    assert [json.loads(p)["favourite"] for p in trials["params"]] == [0, 5, 3, 7]
    assert trials["ndcg"][2] == pytest.approx(1.0) and trials["ndcg"].max() == trials["ndcg"][2]
    sizes = list(FITTED_ON)
    assert sizes == [train.height] * 4, "a candidate was fitted on something else than train"


@pytest.mark.parametrize(
    ("grid", "tried", "best"), [([1, 2], [1, 2, 4, 8], 4), ([8, 16], [8, 16, 4, 2], 4)]
)
def test_steps_past_the_edge_while_it_improves(planted, grid, tried, best):
    train, validation = planted  # the best favourite is 3; 4 ranks it 2nd, 2 ranks it 3rd
    result = select(
        PlantedForSelect, {}, {"favourite": grid}, train, validation, k=5, edge_keys=["favourite"]
    )
    assert [json.loads(p)["favourite"] for p in result.trials["params"]] == tried
    assert result.trials["stage"].to_list() == ["grid", "grid", "edge", "edge"]
    assert result.params == {"favourite": best}
    fixed = select(PlantedForSelect, {}, {"favourite": grid}, train, validation, edge_steps=0)
    assert fixed.trials.height == 2
    only_reg = select(PlantedForSelect, {}, {"favourite": grid}, train, validation)
    assert only_reg.trials.height == 2, "the default steps past the edge of reg only"


def test_only_inner_train_and_validation_are_inputs():
    names = list(inspect.signature(select).parameters)
    assert names[3:5] == ["train", "validation"]
    assert not any("test" in name for name in names)


def test_ties_go_to_the_earlier_candidate(planted):
    train, validation = planted
    result = select(PlantedForSelect, {}, {"offset": [2.0, 1.0]}, train, validation)
    assert result.params == {"offset": 2.0}


def test_budget_stops_early_but_runs_the_first(planted):
    train, validation = planted
    ticks = itertools.count(0.0, 10.0)  # every clock reading is 10 s later
    grid = {"favourite": [0, 1, 2, 3, 4, 5]}
    result = select(
        PlantedForSelect, {}, grid, train, validation, budget_seconds=1.0, clock=lambda: next(ticks)
    )
    assert result.trials.height == 1 and result.params == {"favourite": 0}
    ticks = itertools.count(0.0, 1.0)  # a trial takes 1 s: one starts only if it ends by 4.5 s
    result = select(
        PlantedForSelect, {}, grid, train, validation, budget_seconds=4.5, clock=lambda: next(ticks)
    )
    assert result.trials.height == 4
    assert result.trials["seconds"].sum() <= 4.5


def test_warm_start_runs_first_once(planted):
    train, validation = planted
    grid = {"favourite": [0, 3, 5]}
    result = select(PlantedForSelect, {}, grid, train, validation, warm_start={"favourite": 5})
    assert [json.loads(p)["favourite"] for p in result.trials["params"]] == [5, 0, 3]
    tiny = select(
        PlantedForSelect, {}, grid, train, validation, warm_start={"favourite": 3},
        budget_seconds=1e-9,
    )  # fmt: skip
    assert tiny.trials.height == 1 and tiny.params == {"favourite": 3}


def test_deterministic_on_real_models():
    split = random_split(random_ratings(60, 50, seed=2), 0.25, random_state=0)
    runs = [
        select(IALS, {"n_epochs": 3}, {"reg": [1.0, 10.0]}, split.train, split.test)
        for _ in range(2)
    ]
    assert runs[0].params == runs[1].params
    assert runs[0].trials.drop("seconds").equals(runs[1].trials.drop("seconds"))


def test_default_grids_build_valid_models():
    from recsys_core.evaluation.grid import expand

    for cls in (EASE, IALS):
        for candidate in expand(DEFAULT_GRIDS[cls.__name__]):
            cls(**candidate)


def test_bad_budget_is_a_config_error(planted):
    train, validation = planted
    with pytest.raises(ConfigError, match="budget_seconds"):
        select(PlantedForSelect, {}, {"favourite": [1]}, train, validation, budget_seconds=0)
