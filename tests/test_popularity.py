import numpy as np
import polars as pl
import pytest

from recsys_core import ConfigError, DataError, Popularity
from recsys_core.ranking.candidates import seen_mask
from tests.conftest import random_ratings
from tests.contract import ModelContract, brute_force_topn


class TestPopularityContract(ModelContract):
    @staticmethod
    def make(**overrides):
        return Popularity(**overrides)


TOY = pl.DataFrame(
    {
        "user_id": [1, 1, 2, 3, 3, 3, 4],
        "item_id": [10, 11, 10, 10, 12, 13, 13],
        "rating": [5.0, 3.0, 4.0, 2.0, 5.0, 1.0, 4.0],
        "timestamp": [100, 200, 300, 400, 86_400 * 10, 86_400 * 10, 86_400 * 10],
    }
)


def test_counts_and_damped_mean_by_hand():
    model = Popularity(damping=2.0).fit(TOY)
    mu = 24.0 / 7
    np.testing.assert_allclose(model.count_, [3, 1, 1, 2])
    expected = [(11 + 2 * mu) / 5, (3 + 2 * mu) / 3, (5 + 2 * mu) / 3, (5 + 2 * mu) / 4]
    np.testing.assert_allclose(model.damped_mean_, expected)
    est = model.predict(pl.DataFrame({"user_id": [99, 1], "item_id": [10, 777]}))
    np.testing.assert_allclose(est, [expected[0], mu])


def test_count_ranking_breaks_ties_by_item_id():
    recs = Popularity().fit(TOY).recommend(3, users=[4])
    # item 10 has 3 ratings; 11 and 12 tie with 1: smaller id first; 13 is seen by user 4
    assert recs["item_id"].to_list() == [10, 11, 12]
    assert recs["rank"].to_list() == [1, 2, 3]


def test_damped_mean_ranking_differs_from_count():
    recs = Popularity(score="damped_mean", damping=0.0).fit(TOY).recommend(1, users=[2])
    assert recs["item_id"].to_list() == [12]  # mean 5.0 beats 10 (3.67) once damping is 0


def test_window_counts_only_recent_ratings():
    model = Popularity(window_days=2).fit(TOY)
    np.testing.assert_allclose(model.count_, [0, 0, 1, 2])
    no_time = TOY.with_columns(pl.lit(None, dtype=pl.Int64).alias("timestamp"))
    with pytest.raises(DataError, match="timestamp"):
        Popularity(window_days=2).fit(no_time)


def test_bad_params_name_the_parameter():
    with pytest.raises(ConfigError, match=r"window_day.*window_days"):
        Popularity(window_day=3)
    with pytest.raises(ConfigError, match="'damping'"):
        Popularity(damping=-1)
    with pytest.raises(ConfigError, match="'score'"):
        Popularity(score="mean")


def test_model_files_hold_no_python_objects(tmp_path):
    path = Popularity().fit(TOY).save(tmp_path / "m.npz")
    with np.load(path) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    evil = tmp_path / "evil.npz"
    np.savez(evil, header=np.frombuffer(b"{}", dtype=np.uint8), a_x=np.array([{}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        Popularity.load(evil)


@pytest.mark.parametrize("params", [{}, {"score": "damped_mean"}, {"window_days": 30}])
@pytest.mark.parametrize("block_size", [None, 1, 7])
def test_topn_is_the_brute_force_ranking_of_the_item_scores(params, block_size):
    ratings = random_ratings(n_users=80, n_items=50, density=0.35, seed=11)
    model = Popularity(**params).fit(ratings)
    users = np.arange(model.data.n_users)[::-1].copy()  # any order, as given
    seen = seen_mask(model.data.user_items, users)
    scores = np.tile(model.item_scores_, (len(users), 1))
    for n in (1, 5, 50):
        top = model.topn_indices(n, model.data.users.raw(users), block_size=block_size)
        rows = len(users) - 1 - top.users  # users are descending
        got = list(zip(rows.tolist(), top.ranks.tolist(), top.items.tolist(), strict=True))
        assert got == brute_force_topn(scores, seen, n)
        np.testing.assert_array_equal(top.scores, model.item_scores_[top.items])
