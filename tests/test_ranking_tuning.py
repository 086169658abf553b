"""The hybrid's tuner: fitted scorers in, NDCG@k (k and threshold passed in) by a greedy search
that keeps a component only when it helps; ``choose_settings`` is select per component, then
that search, on the training ratings only; ``Hybrid.fit(tune=True)`` is that composition."""

import json

import numpy as np
import polars as pl
import pytest

from recsys_core.data.ids import RatingData
from recsys_core.evaluation.select import select
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.ranking.choice import refit_on_split
from recsys_core.ranking.hybrid import Hybrid, HybridParams, choose_settings
from recsys_core.ranking.tuning import ADD_WEIGHTS, tune, validation_split
from tests.conftest import random_ratings


class Fixed:
    """A fitted scorer by hand: a fixed users x items score table."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.scores[users].copy()


@pytest.fixture(scope="module")
def planted():
    """Training data, validation ratings and the relevant (user, item) matrix."""
    frame = random_ratings(n_users=60, n_items=80, density=0.3, seed=4)
    split = validation_split(frame, 0.2, random_state=0)
    data = RatingData.from_frame(split.train)
    liked = split.test.filter(pl.col("rating") >= 4)
    u = data.users.index_of(liked["user_id"])
    i = data.items.index_of(liked["item_id"])
    relevant = np.zeros((data.n_users, data.n_items), dtype=bool)
    relevant[u[(u >= 0) & (i >= 0)], i[(u >= 0) & (i >= 0)]] = True
    assert relevant.sum() > 40
    return data, split, relevant


def run(planted, scorers, *, threshold=4.0, k=10, first=None):
    data, split, relevant = planted
    fallback = Fixed(-relevant.astype(float))  # ranks the relevant items last: never useful
    valid = ValidationSet.build(split.train, split.test, threshold=threshold, data=data)
    return tune(
        scorers,
        fallback,
        valid,
        first or {"cold_user_ratings": 0, "cold_item_slots": 0},
        k=k,
        cold_item_ratings=0,  # no cold items: every slot setting ties
    )


def noise(planted, seed):
    return np.random.default_rng(seed).standard_normal(planted[2].shape)


def single_best(table: pl.DataFrame) -> float:
    return table.filter(pl.col("stage") == "single")["ndcg"].max()


def final_ndcg(table: pl.DataFrame, best: dict) -> float:
    """The NDCG of the chosen setting, as recorded in the trials."""
    match = table
    for name, w in best["weights"].items():
        match = match.filter(pl.col(f"w_{name}") == w)
    for key in ("cold_user_ratings", "cold_item_slots"):
        match = match.filter(pl.col(key) == best[key])
    return match["ndcg"][0]


def test_the_best_single_component_wins_when_blending_does_not_help(planted):
    good = planted[2] + 0.8 * noise(planted, 1)  # planted: relevant items score higher
    best, table = run(planted, {"good": Fixed(good), "noise": Fixed(noise(planted, 2))})
    assert best["weights"] == {"good": 1.0, "noise": 0.0}
    adds = table.filter(pl.col("stage") == "add")
    assert adds.height == len(ADD_WEIGHTS) and (adds["ndcg"] < single_best(table)).all()
    assert final_ndcg(table, best) == single_best(table)


def test_a_blend_that_helps_is_kept(planted):
    relevant = planted[2]
    half = np.arange(relevant.shape[1]) % 2 == 0
    a = relevant & half[None, :]  # each knows the relevant items of one half of the catalogue
    b = relevant & ~half[None, :]
    scorers = {"a": Fixed(a + 0.1 * noise(planted, 3)), "b": Fixed(b + 0.1 * noise(planted, 4))}
    best, table = run(planted, scorers)
    assert best["weights"]["a"] > 0 and best["weights"]["b"] > 0
    assert sum(best["weights"].values()) == pytest.approx(1.0)
    assert final_ndcg(table, best) > single_best(table) + 0.05


def test_ties_keep_fewer_components(planted):
    score = planted[2] + 0.5 * noise(planted, 5)
    best, table = run(planted, {"b_copy": Fixed(score), "a_orig": Fixed(score)})
    # a blend of a scorer with itself ranks exactly like either alone: the first name wins
    assert best["weights"] == {"a_orig": 1.0, "b_copy": 0.0}
    assert (table.filter(pl.col("stage") == "add")["ndcg"] == single_best(table)).all()


@pytest.mark.parametrize("seed", range(4))
def test_never_worse_than_the_best_single_component(planted, seed):
    rng = np.random.default_rng(seed)
    relevant = planted[2]
    scorers = {
        name: Fixed(rng.uniform(0, 2) * relevant + rng.standard_normal(relevant.shape))
        for name in ("a", "b", "c")
    }
    best, table = run(planted, scorers, first={"cold_user_ratings": 5, "cold_item_slots": 1})
    assert final_ndcg(table, best) >= single_best(table)
    kept = [n for n, w in best["weights"].items() if w > 0]
    if len(kept) > 1:  # a blend is kept only when strictly better than every single
        singles = table.filter(pl.col("stage").is_in(["single", "check"]))
        assert final_ndcg(table, best) > singles["ndcg"].max()


def test_the_threshold_is_the_one_passed_in(planted):
    oracle = {"oracle": Fixed(planted[2].astype(float))}  # knows "rating >= 4"
    _, at4 = run(planted, oracle, threshold=4.0)
    _, at5 = run(planted, oracle, threshold=5.0)
    assert at4["ndcg"][0] == pytest.approx(1.0, abs=1e-12)
    assert at5["ndcg"][0] < 0.99


SMALL = {
    "ease": {"model": "EASE", "params": {}},
    "pure_svd": {"model": "PureSVD", "params": {"n_factors": 4}},
}
GRIDS = {"ease": {"reg": [5.0, 20.0, 80.0]}, "pure_svd": {"n_factors": [2, 4]}}


def test_hybrid_fit_with_tune_is_choose_settings_then_refit_of_the_kept():
    frame = random_ratings(n_users=50, n_items=60, density=0.3, seed=9)
    model = Hybrid(components=SMALL, grids=GRIDS, tune_users=30, budget_seconds=1e6)
    model.fit(frame, k=5, threshold=3.0)
    want, table = choose_settings(model.params, frame, k=5, threshold=3.0)
    assert model.chosen_ == want
    assert model.tuning_.drop("seconds").equals(table.drop("seconds"))  # timings differ
    assert json.loads(json.dumps(want)) == want  # JSON-ready
    assert set(want) == {"components", "weights", "cold_user_ratings", "cold_item_slots"}
    assert set(want["components"]) == {n for n, w in want["weights"].items() if w > 0}
    assert set(model.components_) == set(want["components"])
    for name, fitted in model.components_.items():
        assert fitted.params.model_dump() == want["components"][name]
        assert fitted.data.n_users == frame["user_id"].n_unique()  # refitted on all of it
    selected = table.filter(pl.col("component") == "ease")
    assert selected.height >= 3  # the start and its two neighbours at least
    # the evaluation settings matter: the default k and threshold give another table
    other = Hybrid(components=SMALL, grids=GRIDS, tune_users=30, budget_seconds=1e6).fit(frame)
    assert not other.tuning_.drop("seconds").equals(table.drop("seconds"))


def test_the_selected_model_is_kept_fitted_not_refitted():
    frame = random_ratings(n_users=50, n_items=60, density=0.3, seed=10)
    inner = validation_split(frame, 0.2, random_state=0)
    chosen = select(
        EASE, {}, {"reg": [5.0, 20.0, 80.0]}, ValidationSet.build(inner.train, inner.test)
    )
    assert chosen.model is not None and chosen.model.params.reg == chosen.params["reg"]
    refit = EASE(**chosen.params).fit(inner.train)
    users = np.arange(refit.data.n_users)
    np.testing.assert_array_equal(chosen.model.score_users(users), refit.score_users(users))


class Ticks:
    """A clock that advances one second per reading: every trial costs a second."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_warm_start_runs_first_and_is_kept_when_the_budget_allows_nothing_else():
    frame = random_ratings(n_users=50, n_items=60, density=0.3, seed=11)
    params = HybridParams(components={"ease": SMALL["ease"]}, grids={"ease": GRIDS["ease"]})
    last = {
        "components": {"ease": {**EASE().params.model_dump(), "reg": 1234.0}},
        "cold_user_ratings": 3,
        "cold_item_slots": 2,
    }
    chosen, trials = choose_settings(
        params, frame, k=5, threshold=4.0, budget_seconds=0.5, warm_start=last, clock=Ticks()
    )
    selected = trials.filter(pl.col("component") == "ease")
    assert selected.height == 1 and json.loads(selected["params"][0]) == {"reg": 1234.0}
    assert chosen["components"]["ease"]["reg"] == 1234.0
    blend = trials.filter(pl.col("stage") == "single")
    assert blend["cold_user_ratings"][0] == 3 and blend["cold_item_slots"][0] == 2
    # with a budget, the climb runs on from the warm start: the grid's ratio (x4) beyond it
    _, full = choose_settings(params, frame, k=5, threshold=4.0, budget_seconds=1e6,
                              warm_start=last)  # fmt: skip
    ran = [json.loads(p)["reg"] for p in full.filter(pl.col("component") == "ease")["params"]]
    assert ran[0] == 1234.0 and len(ran) >= 3
    assert ran[1] == 1280.0 and 320.0 in ran[2:], "up one rung, then down one (1280, 320)"


def test_cold_start_settings_move_only_when_they_improve(planted):
    data = planted[0]
    assert (np.diff(data.user_items.indptr) < 20).sum() > 5  # users the first setting serves cold
    scorer = {"good": Fixed(planted[2] + 0.5 * noise(planted, 6))}
    first = {"cold_user_ratings": 20, "cold_item_slots": 1}
    best, table = run(planted, scorer, first=first)  # the fallback ranks relevant items last
    assert best["cold_user_ratings"] < 20
    assert table.filter(pl.col("stage") == "single")["cold_user_ratings"].to_list() == [20]
    assert best["cold_item_slots"] == 1  # no cold items: every slot setting ties, first kept


@pytest.mark.parametrize("cold_first", [True, False])
def test_the_search_order_of_cold_start_settings_and_weights(planted, cold_first):
    relevant = planted[2]
    half = np.arange(relevant.shape[1]) % 2 == 0  # a blend of the two halves helps
    scorers = {"a": Fixed((relevant & half[None, :]) + 0.1 * noise(planted, 3)),
               "b": Fixed((relevant & ~half[None, :]) + 0.1 * noise(planted, 4))}  # fmt: skip
    data, split, _ = planted
    valid = ValidationSet.build(split.train, split.test, threshold=4.0, data=data)
    first = {"cold_user_ratings": 20, "cold_item_slots": 0}  # the fallback: relevant items last
    best, table = tune(scorers, Fixed(-relevant.astype(float)), valid, first, k=10,
                       cold_item_ratings=0, cold_first=cold_first)  # fmt: skip
    stages = table["stage"].to_list()
    adds = table.filter(pl.col("stage") == "add")
    colds = table.filter(pl.col("stage") == "cold_user_ratings")
    assert best["cold_user_ratings"] < 20 and best["weights"]["a"] * best["weights"]["b"] > 0
    if cold_first:  # the weights are searched at the improved cold-start setting
        assert stages.index("add") > len(stages) - 1 - stages[::-1].index("cold_item_slots")
        assert (adds["cold_user_ratings"] == best["cold_user_ratings"]).all()
        assert (colds["w_b"] == 0).all()
    else:  # the weights at the first setting, then the cold-start steps with the blend
        assert stages.index("cold_user_ratings") > len(stages) - 1 - stages[::-1].index("add")
        assert (adds["cold_user_ratings"] == 20).all()
        assert ((colds["w_a"] > 0) & (colds["w_b"] > 0)).all()


def test_a_tuned_hybrid_saves_and_loads_its_kept_components(tmp_path):
    frame = random_ratings(n_users=50, n_items=60, density=0.3, seed=12)
    model = Hybrid(components=SMALL, grids=GRIDS, tune_users=30, budget_seconds=1e6).fit(frame)
    loaded = Hybrid.load(model.save(tmp_path / "hybrid.npz"))
    assert loaded.chosen_ == model.chosen_
    assert list(loaded.components_) == list(model.components_)
    assert loaded.recommend_explained(5).equals(model.recommend_explained(5))


@pytest.mark.ml100k
@pytest.mark.slow  # ~20 s: a whole night's selection
def test_ml100k_accuracy_floor_of_the_nightly_hybrid(ml100k):
    from recsys_core import Popularity
    from recsys_core.evaluation.metrics import ranking_metrics
    from recsys_core.settings import Settings, hybrid_params

    split = validation_split(ml100k, 0.2, random_state=0)  # the test part chooses nothing
    model = Hybrid(**hybrid_params(Settings())).fit(split.train)
    scores = ranking_metrics(model.recommend(10), split.test)
    popular = ranking_metrics(Popularity().fit(split.train).recommend(10), split.test)
    # measured 0.385 / 0.279 (validation kept iALS alone on this split), popularity 0.171
    assert scores["ndcg"] >= 0.37 and scores["precision"] >= 0.265
    assert scores["ndcg"] >= 2 * popular["ndcg"]


def _split_with_relevant(frame: pl.DataFrame, seed: int):
    split = validation_split(frame, 0.2, random_state=seed)
    data = RatingData.from_frame(split.train)
    liked = split.test.filter(pl.col("rating") >= 4)
    u, i = data.users.index_of(liked["user_id"]), data.items.index_of(liked["item_id"])
    relevant = np.zeros((data.n_users, data.n_items), dtype=bool)
    relevant[u[(u >= 0) & (i >= 0)], i[(u >= 0) & (i >= 0)]] = True
    valid = ValidationSet.build(split.train, split.test, threshold=4.0, data=data)
    return valid, relevant


def test_further_validation_splits_pool_their_users():
    frame = random_ratings(n_users=60, n_items=80, density=0.3, seed=4)
    parts = []
    for seed in (0, 1):
        valid, relevant = _split_with_relevant(frame, seed)
        rng = np.random.default_rng(seed)
        scorers = {"a": Fixed(relevant + 0.9 * rng.standard_normal(relevant.shape)),
                   "b": Fixed(relevant + 1.1 * rng.standard_normal(relevant.shape))}  # fmt: skip
        parts.append((scorers, Fixed(-relevant.astype(float)), valid))
    first = {"cold_user_ratings": 0, "cold_item_slots": 0}
    alone = [tune(*part[:3], first, k=10, cold_item_ratings=0)[1] for part in parts]
    _, pooled = tune(*parts[0], first, k=10, cold_item_ratings=0, more=[parts[1]])
    # the pooled NDCG is the mean over both splits' users with a relevant item
    n = [p[2].truth.filter(pl.col("rating") >= 4)["user_id"].n_unique() for p in parts]
    for row in range(2):  # the "single" trials: each component alone, the same in every run
        assert pooled["stage"][row] == "single"
        want = (n[0] * alone[0]["ndcg"][row] + n[1] * alone[1]["ndcg"][row]) / (n[0] + n[1])
        assert pooled["ndcg"][row] == pytest.approx(want, rel=1e-12)
    assert alone[0]["ndcg"][0] != pytest.approx(alone[1]["ndcg"][0]), "the splits differ"
    best, twice = tune(*parts[0], first, k=10, cold_item_ratings=0, more=[parts[0]])
    assert twice["ndcg"].to_list() == pytest.approx(alone[0]["ndcg"].to_list(), rel=1e-12)
    assert best == tune(*parts[0], first, k=10, cold_item_ratings=0)[0], "a copy changes nothing"


def test_further_splits_refit_every_component_from_scratch_on_their_own_split():
    frame = random_ratings(n_users=50, n_items=60, density=0.3, seed=8)
    params = HybridParams(grids={"ease": {}, "ials": {}}, validation_splits=2)
    first = {"ease": EASE(reg=50.0), "ials": IALS(n_factors=4, n_epochs=3)}
    p0 = validation_split(frame, params.validation_fraction, params.random_state)
    fitted = {name: model.fit(p0.train) for name, model in first.items()}
    models, fallback, valid = refit_on_split(params, fitted, frame, 1, threshold=4.0)
    split = validation_split(frame, params.validation_fraction, 1)
    assert valid.train.equals(split.train) and not split.train.equals(p0.train)
    assert valid.truth.height > 0
    fresh = IALS(n_factors=4, n_epochs=3).fit(split.train)  # a fit from random factors
    np.testing.assert_array_equal(models["ials"].item_factors_, fresh.item_factors_)
    np.testing.assert_array_equal(models["ease"].B_, EASE(reg=50.0).fit(split.train).B_)
    assert fallback.data.n_users == valid.data.n_users
    chosen, trials = choose_settings(params, frame, k=5, threshold=4.0)
    singles = trials.filter(pl.col("stage") == "single")["ndcg"]
    assert trials.filter(pl.col("stage") == "single").height == 2
    assert final_ndcg(trials.filter(pl.col("stage").is_not_null()), chosen) >= singles.max()
