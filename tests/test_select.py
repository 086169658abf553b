"""Validation-only hyperparameter selection: the climb finds a known best with few fits, steps
past edges, budget, warm start, inputs used; the validation set it scores on."""

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
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.base import Recommender
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.params import Params
from tests.conftest import random_ratings


class PlantedParams(Params):
    """One knob: the item index the model puts first for everyone."""

    favourite: int = Field(default=0, ge=0)
    offset: float = 0.0
    flip: bool = False


FITTED_ON: list[int] = []


class PlantedForSelect(Recommender):
    """Scores item ``i`` as ``-|i - favourite|`` (``flip``: the opposite): its top-1 is
    ``favourite``."""

    Params = PlantedParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        FITTED_ON.append(ratings.height)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        items = np.arange(self.data.n_items, dtype=np.float64)
        sign = 1.0 if self.params.flip else -1.0
        return np.tile(sign * np.abs(items - self.params.favourite), (len(users), 1))


@pytest.fixture
def planted() -> ValidationSet:
    """Train: every user rated items 100..109, one user 0..39 too; validation: each other user's
    only liked item is 3.

    So by favourite: 3 ranks it 1st; 4 ranks it 2nd (ties by smaller item: 3 before 5); 2 ranks
    it 3rd (1 before 3); further away, lower (NDCG@40 falls with every step away)."""
    users = np.arange(1, 21)
    train = pl.DataFrame(
        {
            "user_id": np.repeat(users, 10),
            "item_id": np.tile(np.arange(100, 110), 20),
            "rating": np.full(200, 3.0),
        }
    ).vstack(pl.DataFrame({"user_id": [1] * 40, "item_id": np.arange(40), "rating": [2.0] * 40}))
    train = train.with_columns(pl.col("user_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    validation = pl.DataFrame(
        {"user_id": users[1:], "item_id": np.full(19, 3), "rating": np.full(19, 5.0)}
    ).with_columns(pl.col("user_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    return ValidationSet.build(train, validation)


def tried(result) -> list[int]:
    return [json.loads(p)["favourite"] for p in result.trials["params"]]


def test_climbs_to_the_known_best_and_fits_on_train_only(planted):
    FITTED_ON.clear()
    grid = {"favourite": [0, 5, 3, 7]}  # climbed in sorted order from the configured 0
    result = select(PlantedForSelect, {"offset": 1.0}, grid, planted, k=5)
    assert result.params == {"offset": 1.0, "favourite": 3}
    trials = result.trials
    assert trials.columns == ["params", "stage", "ndcg", "precision", "seconds"]
    assert tried(result) == [0, 3, 5], "3 beats 0, then 5 is worse: 7 is never fitted"
    assert trials["stage"].to_list() == ["start", "grid", "grid"]
    assert trials["ndcg"][1] == pytest.approx(1.0) and trials["ndcg"].max() == trials["ndcg"][1]
    assert [planted.train.height] * 3 == FITTED_ON, "a candidate was fitted on something else"
    assert result.model.params.favourite == 3


def test_a_start_at_the_best_costs_its_two_neighbours(planted):
    grid = {"favourite": [1, 2, 3, 4, 5, 6]}
    result = select(PlantedForSelect, {"favourite": 3}, grid, planted, k=5)
    assert tried(result) == [3, 4, 2] and result.params["favourite"] == 3


def test_steps_down_when_up_is_worse(planted):
    result = select(PlantedForSelect, {"favourite": 6}, {"favourite": [1, 2, 6, 7]}, planted)
    assert tried(result) == [6, 7, 2, 1], "7 worse, so down: 2 better, then 1 worse"
    assert result.params["favourite"] == 2


@pytest.mark.parametrize(
    ("start", "grid", "order", "best"),
    [(1, [1, 2], [1, 2, 4, 8], 4), (16, [8, 16], [16, 32, 8, 4, 2], 4)],
)
def test_steps_past_the_edge_while_it_improves(planted, start, grid, order, best):
    result = select(
        PlantedForSelect, {"favourite": start}, {"favourite": grid}, planted, k=40,
        edge_keys=["favourite"],
    )  # fmt: skip
    assert tried(result) == order and result.params == {"favourite": best}
    stages = dict(zip(tried(result), result.trials["stage"], strict=True))
    assert {v for v, st in stages.items() if st == "edge"} == set(order) - {*grid}
    fixed = select(PlantedForSelect, {"favourite": start}, {"favourite": grid}, planted,
                   edge_steps=0, edge_keys=["favourite"])  # fmt: skip
    assert set(tried(fixed)) <= set(grid)
    only_reg = select(PlantedForSelect, {"favourite": start}, {"favourite": grid}, planted)
    assert set(tried(only_reg)) <= set(grid), "the default steps past the edge of reg only"


def test_a_start_outside_the_grid_climbs_back_by_the_grid_ratio(planted):
    result = select(PlantedForSelect, {"favourite": 32}, {"favourite": [1, 2]}, planted, k=40)
    assert tried(result)[:3] == [32, 16, 8], "the rungs between the start and the grid first"
    assert result.params["favourite"] == 4


def test_refines_between_rungs_at_the_parabola_vertex_in_log_scale(planted):
    # favourite 1 ranks item 3 4th (1; 0, 2; 3), 4 ranks it 2nd, 16 ranks it 26th (4..28 are
    # nearer, then the tie 3 before 29): NDCG@40 = 1 / log2(rank + 1)
    result = select(PlantedForSelect, {"favourite": 1}, {"favourite": [1, 4, 16]}, planted,
                    k=40, refine_keys=["favourite"])  # fmt: skip
    fa, fb, fc = (1 / np.log2(rank + 1) for rank in (4, 2, 26))
    # equal steps h = log 4: the vertex is b - h (fa - fc) / (2 (2 fb - fa - fc))
    vertex = 4 * 4 ** (-(fa - fc) / (2 * (2 * fb - fa - fc)))
    assert 3.05 < vertex < 3.15, "hand value: 3.13, rounded to two digits 3.1, an integer 3"
    assert tried(result) == [1, 4, 16, 3]
    assert result.trials["stage"].to_list() == ["start", "grid", "grid", "refine"]
    assert result.trials["ndcg"].to_list() == pytest.approx([fa, fb, fc, 1.0])
    assert result.params["favourite"] == 3 and result.model.params.favourite == 3
    plain = select(PlantedForSelect, {"favourite": 1}, {"favourite": [1, 4, 16]}, planted,
                   k=40, refine_keys=[])  # fmt: skip
    assert tried(plain) == [1, 4, 16] and plain.params["favourite"] == 4


def test_no_refinement_without_a_tried_value_on_each_side(planted):
    result = select(PlantedForSelect, {"favourite": 3}, {"favourite": [3, 6]}, planted, k=40,
                    refine_keys=["favourite"])  # fmt: skip
    assert tried(result) == [3, 6], "3 is best and nothing below it was tried"


def test_values_that_are_not_numbers_are_each_tried(planted):
    result = select(PlantedForSelect, {"favourite": 3}, {"flip": [True, False]}, planted)
    assert [json.loads(p)["flip"] for p in result.trials["params"]] == [False, True]
    assert result.params["flip"] is False


def test_only_the_validation_set_is_an_input():
    names = list(inspect.signature(select).parameters)
    assert names[3] == "validation" and "train" not in names
    assert not any("test" in name for name in names)


def test_ties_go_to_the_earlier_candidate(planted):
    result = select(PlantedForSelect, {"offset": 2.0}, {"offset": [2.0, 1.0]}, planted)
    assert result.params == {"offset": 2.0}
    assert result.trials.height == 2


def test_budget_stops_early_but_runs_the_first(planted):
    ticks = itertools.count(0.0, 10.0)  # every clock reading is 10 s later
    grid, base = {"favourite": [3, 4, 5, 6, 7, 8, 9]}, {"favourite": 9}
    result = select(
        PlantedForSelect, base, grid, planted, budget_seconds=1.0, clock=lambda: next(ticks)
    )
    assert result.trials.height == 1 and result.params == {"favourite": 9}
    ticks = itertools.count(0.0, 1.0)  # a trial takes 1 s: one starts only if it ends by 4.5 s
    result = select(
        PlantedForSelect, base, grid, planted, budget_seconds=4.5, clock=lambda: next(ticks)
    )
    assert tried(result) == [9, 8, 7, 6], "each step down improves; the budget stops at 4"
    assert result.trials["seconds"].sum() <= 4.5


def test_warm_start_runs_first_once(planted):
    grid = {"favourite": [0, 3, 5]}
    result = select(PlantedForSelect, {}, grid, planted, warm_start={"favourite": 5})
    assert tried(result) == [5, 3, 0]
    tiny = select(
        PlantedForSelect, {}, grid, planted, warm_start={"favourite": 3}, budget_seconds=1e-9
    )
    assert tiny.trials.height == 1 and tiny.params == {"favourite": 3}


def test_validation_set_samples_known_users_with_a_relevant_known_item():
    split = random_split(random_ratings(80, 50, seed=5), 0.25, random_state=0)
    full = ValidationSet.build(split.train, split.test, threshold=4.0)
    data = full.data
    u = data.users.index_of(split.test["user_id"])
    i = data.items.index_of(split.test["item_id"])
    liked = (u >= 0) & (i >= 0) & (split.test["rating"].to_numpy() >= 4)
    np.testing.assert_array_equal(full.users, np.unique(u[liked]))
    some = ValidationSet.build(split.train, split.test, threshold=4.0, max_users=10)
    assert len(some.users) == 10 and set(some.users) <= set(full.users)
    assert np.all(np.diff(some.users) > 0)
    assert set(some.truth["user_id"]) == set(some.users)
    again = ValidationSet.build(split.train, split.test, threshold=4.0, max_users=10)
    np.testing.assert_array_equal(again.users, some.users)
    model = EASE(reg=10.0).fit(split.train)
    lists = some.lists(model.score_users, 5)
    rated = set(zip(*model.data.user_items.nonzero(), strict=True))
    assert not {(u, i) for u, i in lists.select("user_id", "item_id").iter_rows()} & rated


def test_deterministic_on_real_models():
    split = random_split(random_ratings(60, 50, seed=2), 0.25, random_state=0)
    valid = ValidationSet.build(split.train, split.test)
    runs = [select(IALS, {"n_epochs": 3}, {"reg": [1.0, 10.0]}, valid) for _ in range(2)]
    assert runs[0].params == runs[1].params
    assert runs[0].trials.drop("seconds").equals(runs[1].trials.drop("seconds"))


def test_default_grids_build_valid_models():
    from recsys_core.evaluation.grid import expand

    for cls in (EASE, IALS):
        for candidate in expand(DEFAULT_GRIDS[cls.__name__]):
            cls(**candidate)


def test_bad_budget_is_a_config_error(planted):
    with pytest.raises(ConfigError, match="budget_seconds"):
        select(PlantedForSelect, {}, {"favourite": [1]}, planted, budget_seconds=0)
