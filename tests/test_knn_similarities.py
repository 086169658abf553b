"""Similarities computed by hand on tiny tables, the tutorial's example, and sim_options errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_core import ConfigError, KNNBaseline, KNNBasic, KNNWithMeans
from recsys_core.models.knn import SimOptions
from recsys_core.models.knn.corating import aligned

# Items a, b, c rated by users 1..4 (item-based: similarities between a, b, c):
#        a  b  c
#   u1   5  3  4
#   u2   4  .  2
#   u3   1  2  4
#   u4   2  4  .
TINY = pl.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 3, 3, 3, 4, 4],
        "item_id": ["a", "b", "c", "a", "c", "a", "b", "c", "a", "b"],
        "rating": [5.0, 3, 4, 4, 2, 1, 2, 4, 2, 4],
    }
)
# Common raters: (a, b) = u1, u3, u4: a = (5, 1, 2), b = (3, 2, 4)
#                (a, c) = u1, u2, u3: a = (5, 4, 1), c = (4, 2, 4)
#                (b, c) = u1, u3:     b = (3, 2),    c = (4, 4)
HAND = {
    "cosine": {
        ("a", "b"): 25 / np.sqrt(30 * 29),
        ("a", "c"): 32 / np.sqrt(42 * 36),
        ("b", "c"): 20 / np.sqrt(13 * 32),
    },
    "msd": {  # 1 / (mean squared difference + 1)
        ("a", "b"): 1 / ((4 + 1 + 4) / 3 + 1),
        ("a", "c"): 1 / ((1 + 4 + 9) / 3 + 1),
        ("b", "c"): 1 / ((1 + 4) / 2 + 1),
    },
    "pearson": {  # (n sum xy - sum x sum y) / sqrt((n sum x2 - (sum x)^2)(n sum y2 - (sum y)^2))
        ("a", "b"): (3 * 25 - 8 * 9) / np.sqrt((3 * 30 - 64) * (3 * 29 - 81)),
        ("a", "c"): 0.0,  # (3 * 32 - 10 * 10) < 0: negative, not stored
        ("b", "c"): 0.0,  # c is constant over (u1, u3): denominator 0
    },
}


def item_sims(model) -> dict[tuple[str, str], float]:
    dense = model.sim_.toarray()
    ids = model.data.items.ids.to_list()
    return {(x, y): dense[ids.index(x), ids.index(y)] for x, y in HAND["cosine"]}


@pytest.mark.parametrize("name", ["cosine", "msd", "pearson"])
def test_hand_computed_similarities(name):
    model = KNNWithMeans(sim_options={"name": name}).fit(TINY)
    got = item_sims(model)
    for pair, want in HAND[name].items():
        assert got[pair] == pytest.approx(want, rel=1e-12), pair
    assert np.allclose(model.sim_.toarray(), model.sim_.toarray().T)
    np.testing.assert_array_equal(model.sim_.diagonal(), 1.0)


def test_hand_computed_pearson_baseline():
    # n_epochs=0 keeps every bias at 0, so the residuals are r - mu with mu = 31 / 10
    mu = 3.1
    model = KNNWithMeans(
        sim_options={"name": "pearson_baseline", "shrinkage": 2},
        bsl_options={"n_epochs": 0},
    ).fit(TINY)
    da = np.array([5, 1, 2]) - mu  # a over (u1, u3, u4)
    db = np.array([3, 2, 4]) - mu
    rho_ab = (da @ db) / np.sqrt((da @ da) * (db @ db))
    dc = np.array([4, 2, 4]) - mu  # c over (u1, u2, u3)
    da2 = np.array([5, 4, 1]) - mu
    rho_ac = (da2 @ dc) / np.sqrt((da2 @ da2) * (dc @ dc))
    got = item_sims(model)
    assert got[("a", "b")] == pytest.approx(rho_ab * 2 / (2 + 2), rel=1e-12)  # (n-1)/(n-1+2)
    assert rho_ac < 0 and got[("a", "c")] == 0.0
    # (b, c) has 2 common raters: (2 - 1) / (2 - 1 + 2) times rho, rho of (3, 2) vs (4, 4) - mu
    db2, dc2 = np.array([3, 2]) - mu, np.array([4, 4]) - mu
    rho_bc = (db2 @ dc2) / np.sqrt((db2 @ db2) * (dc2 @ dc2))
    assert got[("b", "c")] == pytest.approx(max(rho_bc / 3, 0.0), rel=1e-12)


def test_min_support_zeroes_pairs_with_few_common_raters():
    got = item_sims(KNNWithMeans(sim_options={"name": "cosine", "min_support": 3}).fit(TINY))
    assert got[("b", "c")] == 0.0  # 2 common raters
    assert got[("a", "b")] == pytest.approx(HAND["cosine"][("a", "b")])


def test_user_based_is_the_transposed_computation():
    swapped = TINY.rename({"user_id": "item_id", "item_id": "user_id"})
    by_user = KNNWithMeans(sim_options={"name": "cosine", "user_based": True}).fit(swapped)
    by_item = KNNWithMeans(sim_options={"name": "cosine"}).fit(TINY)
    np.testing.assert_array_equal(by_user.sim_.toarray(), by_item.sim_.toarray())


# The tutorial: A(1:1, 2:2), B(1:2, 2:4), C(1:2.5, 2:4), D(1:4.5, 2:5), E(1:3); predict E, item 2.
TUTORIAL = pl.DataFrame(
    {
        "user_id": ["A", "A", "B", "B", "C", "C", "D", "D", "E"],
        "item_id": [1, 2, 1, 2, 1, 2, 1, 2, 1],
        "rating": [1.0, 2, 2, 4, 2.5, 4, 4.5, 5, 3],
    }
)
E2 = pl.DataFrame({"user_id": ["E"], "item_id": [2]})
# Item 1 over A..D: (1, 2, 2.5, 4.5); item 2: (2, 4, 4, 5).
TUTORIAL_SIM = {
    "cosine": 42.5 / np.sqrt(31.5 * 61),
    "msd": 1 / ((1 + 4 + 2.25 + 0.25) / 4 + 1),
    "pearson": 5.0 / np.sqrt(6.5 * 4.75),  # deviations from the common means 2.5 and 3.75
}


@pytest.mark.parametrize("name", ["cosine", "msd", "pearson", "pearson_baseline"])
def test_tutorial_example(name):
    model = KNNWithMeans(sim_options={"name": name}).fit(TUTORIAL)
    got = model.predict_details(E2).row(0, named=True)
    # mu_2 + sim * (r_E1 - mu_1) / sim = 15/4 + (3 - 13/5): the one neighbour's sim cancels
    assert got["estimate"] == pytest.approx(15 / 4 + (3 - 13 / 5)) == pytest.approx(4.15)
    assert got["n_neighbors"] == 1 and got["fallback"] is False
    sim = model.sim_[0, 1]
    if name in TUTORIAL_SIM:
        assert sim == pytest.approx(TUTORIAL_SIM[name], rel=1e-12)
    else:
        assert sim > 0  # shrunk by (4 - 1) / (4 - 1 + 100), still positive
        assert sim < 3 / 103


def test_tutorial_other_predictors():
    assert KNNBasic().fit(TUTORIAL).predict(E2)[0] == pytest.approx(3.0)  # the one neighbour
    model = KNNBaseline(sim_options={"name": "pearson_baseline"}).fit(TUTORIAL)
    mu = model.mu_
    b_e2 = mu + model.bu_[4] + model.bi_[1]
    b_e1 = mu + model.bu_[4] + model.bi_[0]
    assert model.predict(E2)[0] == pytest.approx(b_e2 + (3 - b_e1))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"nmae": "msd"}, "'sim_options.nmae'.*did you mean 'sim_options.name'"),
        ({"user_base": True}, "user_base.*'sim_options.user_based'"),
        ({"name": "jaccard"}, "sim_options.name.*jaccard"),
        ({"min_support": -1}, "min_support"),
        ({"min_support": 1.5}, "min_support"),
        ({"shrinkage": -3}, "shrinkage"),
        ({"user_based": "yes"}, "user_based"),
    ],
)
def test_bad_sim_options_name_the_key(options, match):
    with pytest.raises(ConfigError, match=match):
        KNNWithMeans(sim_options=options)


def test_sim_options_are_case_insensitive_and_round_trip():
    assert SimOptions(name="MSD").name == "msd"
    model = KNNWithMeans(sim_options={"name": "Cosine", "user_based": True})
    assert model.params.sim_options == SimOptions(name="cosine", user_based=True)


def test_aligned_puts_cancelled_sums_back_on_the_pattern():
    left = sp.csr_matrix(np.array([[1.0, -1.0], [2.0, 0.0]]))
    right = sp.csr_matrix(np.array([[1.0, 5.0, 0.0], [1.0, 0.0, 0.0]]))
    product = left @ right  # row 0, column 0 cancels to an exact 0 and is dropped
    product.sort_indices()
    full = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(aligned(full, product), [0.0, 5.0, 2.0, 10.0])
