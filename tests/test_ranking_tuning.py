"""The hybrid's tuner: fitted scorers in, NDCG@k (k and threshold passed in) by coordinate
search, ties keep the configured candidate; ``Hybrid.fit(tune=True)`` is that composition."""

import numpy as np
import polars as pl
import pytest

from recsys_core import KNNWithMeans, Popularity, PureSVD
from recsys_core.data.ids import RatingData
from recsys_core.ranking.hybrid import Hybrid
from recsys_core.ranking.tuning import tune, validation_split
from tests.conftest import random_ratings


class Planted:
    """A fitted scorer by hand: ``sign`` x (validation rating >= 4), the same for every call."""

    def __init__(self, relevant: np.ndarray, sign: float) -> None:
        self.scores = sign * relevant.astype(np.float64)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.scores[users].copy()


@pytest.fixture(scope="module")
def planted():
    frame = random_ratings(n_users=40, n_items=50, density=0.3, seed=4)
    split = validation_split(frame, 0.2, random_state=0)
    data = RatingData.from_frame(split.train)
    liked = split.test.filter(pl.col("rating") >= 4)
    u = data.users.index_of(liked["user_id"])
    i = data.items.index_of(liked["item_id"])
    relevant = np.zeros((data.n_users, data.n_items), dtype=bool)
    relevant[u[(u >= 0) & (i >= 0)], i[(u >= 0) & (i >= 0)]] = True
    assert relevant.sum() > 20
    return data, split.test, Planted(relevant, 1.0), Planted(relevant, -1.0)


def run(planted, first_weights, threshold=4.0, k=10):
    data, validation, oracle, anti = planted
    first = {"weights": first_weights, "cold_user_ratings": 0, "cold_item_slots": 0}
    return tune(
        {"oracle": oracle, "anti": anti},
        anti,  # a fallback that ranks the relevant items last: never worth choosing
        data,
        validation,
        first,
        k=k,
        threshold=threshold,
        cold_item_ratings=0,  # no cold items: every slot setting ties
        tune_users=1000,
        random_state=0,
    )


def test_the_planted_best_weights_are_found_and_score_one(planted):
    best, table = run(planted, {"anti": 0.6, "oracle": 0.4})
    # the configured blend ranks every relevant item last: NDCG 0 for every user
    assert table["ndcg"][0] == 0.0
    # every weight with oracle > anti ranks perfectly; the earliest grid point wins the tie
    assert best == {"weights": {"anti": 0.0, "oracle": 1.0}, "cold_user_ratings": 0,
                    "cold_item_slots": 0}  # fmt: skip
    assert table["ndcg"].max() == pytest.approx(1.0, abs=1e-12)
    assert table.columns == ["w_anti", "w_oracle", "cold_user_ratings", "cold_item_slots", "ndcg"]


def test_ties_keep_the_configured_candidate(planted):
    first = {"anti": 0.4, "oracle": 0.6}  # already perfect: ties with many grid points
    best, table = run(planted, first)
    assert best["weights"] == first
    assert table["ndcg"][0] == pytest.approx(1.0, abs=1e-12)


def test_the_threshold_is_the_one_passed_in(planted):
    # the oracle knows "rating >= 4"; judged by ">= 5" its lists put 4s above 5s
    _, at4 = run(planted, {"anti": 0.0, "oracle": 1.0}, threshold=4.0)
    _, at5 = run(planted, {"anti": 0.0, "oracle": 1.0}, threshold=5.0)
    assert at4["ndcg"][0] == pytest.approx(1.0, abs=1e-12)
    assert at5["ndcg"][0] < 0.99


def test_hybrid_fit_with_tune_is_split_fit_components_then_tune():
    frame = random_ratings(n_users=40, n_items=50, density=0.3, seed=9)
    components = {
        "item_knn": {"model": "KNNWithMeans", "params": {"k": 10}},
        "pure_svd": {"model": "PureSVD", "params": {"n_factors": 4}},
    }
    model = Hybrid(components=components, tune=True, tune_users=25)
    model.fit(frame, k=5, threshold=3.0)
    inner = validation_split(frame, 0.2, random_state=0)
    fitted = {
        "item_knn": KNNWithMeans(k=10).fit(inner.train),
        "pure_svd": PureSVD(n_factors=4).fit(inner.train),
    }
    fallback = Popularity().fit(inner.train)
    first = {"weights": {"item_knn": 1.0, "pure_svd": 1.0}, "cold_user_ratings": 5,
             "cold_item_slots": 1}  # fmt: skip
    want, table = tune(
        fitted,
        fallback,
        fallback.data,
        inner.test,
        first,
        k=5,
        threshold=3.0,
        cold_item_ratings=5,
        tune_users=25,
        random_state=0,
    )
    assert model.chosen_ == want
    assert model.tuning_.equals(table)
    # the evaluation settings matter: the default k and threshold give another table
    assert (
        not Hybrid(components=components, tune=True, tune_users=25).fit(frame).tuning_.equals(table)
    )
