"""BaselineOnly and compute_baselines: hand-computed updates, options, the model contract."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_core import BaselineOnly, ConfigError
from recsys_core.data.ids import RatingData
from recsys_core.models.baseline import BaselineOptions, compute_baselines
from tests.contract import ModelContract


class TestBaselineOnlyContract(ModelContract):
    folds_in = "no"

    @staticmethod
    def make(**overrides):
        return BaselineOnly(**overrides)


class TestBaselineOnlySGDContract(ModelContract):
    folds_in = "no"

    @staticmethod
    def make(**overrides):
        return BaselineOnly(bsl_options={"method": "sgd", "n_epochs": 5}, **overrides)


#        i1  i2
#   u1    4   2
#   u2    5   .
TINY = pl.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [4.0, 2.0, 5.0]})
MU = 11 / 3


def test_als_one_epoch_by_hand():
    data = RatingData.from_frame(TINY)
    bu, bi = compute_baselines(data.user_items, MU, {"n_epochs": 1, "reg_i": 1, "reg_u": 2})
    # items first, with b_u = 0: b_i = sum (r - mu) / (reg_i + |U_i|)
    bi1 = ((4 - MU) + (5 - MU)) / (1 + 2)
    bi2 = (2 - MU) / (1 + 1)
    # then users: b_u = sum (r - mu - b_i) / (reg_u + |I_u|)
    bu1 = ((4 - MU - bi1) + (2 - MU - bi2)) / (2 + 2)
    bu2 = (5 - MU - bi1) / (2 + 1)
    np.testing.assert_allclose(bi, [bi1, bi2], rtol=1e-14)
    np.testing.assert_allclose(bu, [bu1, bu2], rtol=1e-14)


def test_sgd_one_epoch_by_hand():
    data = RatingData.from_frame(TINY)
    lr, reg = 0.1, 0.5
    bu, bi = compute_baselines(
        data.user_items, MU, {"method": "sgd", "n_epochs": 1, "reg": reg, "learning_rate": lr}
    )
    u1 = i1 = u2 = i2 = 0.0
    # ratings in (user, item) order: (u1, i1, 4), (u1, i2, 2), (u2, i1, 5)
    for r, u, i in [(4.0, "u1", "i1"), (2.0, "u1", "i2"), (5.0, "u2", "i1")]:
        b = {"u1": u1, "u2": u2, "i1": i1, "i2": i2}
        err = r - (MU + b[u] + b[i])
        new_u = b[u] + lr * (err - reg * b[u])
        new_i = b[i] + lr * (err - reg * b[i])
        u1, u2 = (new_u, u2) if u == "u1" else (u1, new_u)
        i1, i2 = (new_i, i2) if i == "i1" else (i1, new_i)
    np.testing.assert_allclose(bu, [u1, u2], rtol=1e-13)
    np.testing.assert_allclose(bi, [i1, i2], rtol=1e-13)


def test_defaults_follow_surprise():
    assert BaselineOptions() == BaselineOptions(method="als", n_epochs=10, reg_i=10, reg_u=15)
    sgd = BaselineOptions(method="sgd")
    assert (sgd.n_epochs, sgd.reg, sgd.learning_rate) == (20, 0.02, 0.005)


def test_predictions_add_the_known_biases_and_clip(ratings):
    model = BaselineOnly().fit(ratings)
    pairs = pl.DataFrame({"user_id": [1, 10_000, 1, 10_000], "item_id": [101, 101, 99_999, 0]})
    want = [
        model.mu_ + model.bu_[0] + model.bi_[0],
        model.mu_ + model.bi_[0],
        model.mu_ + model.bu_[0],
        model.mu_,
    ]
    np.testing.assert_allclose(model.predict(pairs), np.clip(want, 1, 5))
    clipped = BaselineOnly(bsl_options={"reg_i": 0, "reg_u": 0}).fit(ratings, rating_scale=(2, 3))
    est = clipped.predict(ratings)
    assert est.min() == 2.0 and est.max() == 3.0


@pytest.mark.parametrize(
    "options",
    [
        {"n_epochs": 2},
        {"reg_i": 0},
        {"reg_u": 100},
        {"method": "sgd"},
        {"method": "sgd", "n_epochs": 3},
        {"method": "sgd", "reg": 2.0},
        {"method": "sgd", "learning_rate": 0.05},
    ],
)
def test_every_option_changes_the_biases(ratings, options):
    before = BaselineOnly().fit(ratings).predict(ratings)
    after = BaselineOnly(bsl_options=options).fit(ratings).predict(ratings)
    assert not np.allclose(before, after)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "adam"}, "bsl_options.method.*adam"),
        ({"n_epoch": 1}, "'bsl_options.n_epoch'.*did you mean 'bsl_options.n_epochs'"),
        ({"learning_rate": 0.1}, "'learning_rate' is an SGD option"),
        ({"method": "sgd", "reg_u": 3}, "'reg_u' is an ALS option"),
        ({"n_epochs": -1}, "n_epochs"),
        ({"n_epochs": 2.5}, "n_epochs"),
        ({"reg_i": "ten"}, "reg_i"),
    ],
)
def test_bad_options_name_the_key(options, match):
    with pytest.raises(ConfigError, match=match):
        BaselineOnly(bsl_options=options)


def test_ranking_follows_item_bias(ratings):
    model = BaselineOnly().fit(ratings)
    recs = model.recommend(3, users=[1])
    scores = model.mu_ + model.bu_[0] + model.bi_
    seen = set(ratings.filter(pl.col("user_id") == 1)["item_id"].to_list())
    ids = model.data.items.ids.to_list()
    ranked = sorted((i for i in range(len(ids)) if ids[i] not in seen), key=lambda i: -scores[i])
    assert recs["item_id"].to_list() == [ids[i] for i in ranked[:3]]
