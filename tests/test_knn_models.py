"""KNN models: the shared contract, hyperparameters, performance knobs, ranking, explanations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_core import ConfigError, KNNBaseline, KNNBasic, KNNWithMeans
from recsys_core.models.knn import KNNBase
from recsys_core.ranking.candidates import seen_mask
from tests.conftest import random_ratings
from tests.contract import ModelContract, brute_force_topn
from tests.test_knn_reference import dense_ratings, ref_fit


class KNNContract(ModelContract):
    scores_all_items = False  # candidates with no rated neighbour have no score (NaN)
    finite_scores = False
    predicts_ratings = True


class TestKNNWithMeansContract(KNNContract):
    @staticmethod
    def make(**overrides):
        return KNNWithMeans(**overrides)


class TestKNNBasicUserBasedContract(KNNContract):
    folds_in = "no"  # its neighbours are the fitted users

    @staticmethod
    def make(**overrides):
        return KNNBasic(sim_options={"name": "cosine", "user_based": True}, **overrides)


class TestKNNBaselineContract(KNNContract):
    @staticmethod
    def make(**overrides):
        return KNNBaseline(sim_options={"name": "pearson_baseline"}, max_neighbors=10, **overrides)


def all_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    users = frame.select("user_id").unique().sort("user_id")
    items = frame.select("item_id").unique().sort("item_id")
    return users.join(items, how="cross")


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    return random_ratings(n_users=40, n_items=30, density=0.35, seed=11)


def outputs(model: KNNBase, frame: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
    model.fit(frame)
    return model.predict(all_pairs(frame)), model.recommend(5)


BASE = {"k": 10, "min_k": 2, "sim_options": {"name": "pearson_baseline", "shrinkage": 20}}


@pytest.mark.parametrize(
    ("cls", "change"),
    [
        (KNNWithMeans, {"k": 3}),
        (KNNWithMeans, {"min_k": 6}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "name": "msd"}}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "name": "cosine"}}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "name": "pearson"}}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "user_based": True}}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "min_support": 6}}),
        (KNNWithMeans, {"sim_options": {**BASE["sim_options"], "shrinkage": 0}}),
        (KNNWithMeans, {"bsl_options": {"reg_i": 0, "reg_u": 0}}),  # via pearson_baseline
        (KNNWithMeans, {"bsl_options": {"n_epochs": 1}}),
        (KNNWithMeans, {"max_neighbors": 2}),
        (KNNBaseline, {"bsl_options": {"method": "sgd"}}),
        (KNNBaseline, {"bsl_options": {"method": "sgd", "learning_rate": 0.05}}),
        (KNNBaseline, {"bsl_options": {"method": "sgd", "reg": 1.0}}),
        (KNNBasic, {"k": 1}),
    ],
)
def test_every_hyperparameter_changes_predictions(data, cls, change):
    before, _ = outputs(cls(**BASE), data)
    after, _ = outputs(cls(**{**BASE, **change}), data)
    assert not np.allclose(before, after)


@pytest.mark.parametrize(
    "change",
    [
        {"rank_weight": "binary"},
        {"rank_weight": "centered"},
        {"rank_shrinkage": 0},
        {"rank_neighbors": "rated"},
    ],
)
def test_ranking_hyperparameters_change_lists_not_predictions(data, change):
    before, recs_before = outputs(KNNWithMeans(**BASE), data)
    after, recs_after = outputs(KNNWithMeans(**BASE, **change), data)
    np.testing.assert_array_equal(before, after)
    assert not recs_before.equals(recs_after)


@pytest.mark.parametrize("cls", [KNNBasic, KNNWithMeans, KNNBaseline])
@pytest.mark.parametrize("user_based", [False, True])
def test_performance_knobs_change_nothing(data, cls, user_based):
    opts = {**BASE["sim_options"], "user_based": user_based}
    ref_pred, ref_recs = outputs(cls(**{**BASE, "sim_options": opts}), data)
    n_max = max(data["user_id"].n_unique(), data["item_id"].n_unique())
    for knobs in [{"block_size": 1}, {"block_size": 7, "n_threads": 1}, {"max_neighbors": n_max}]:
        pred, recs = outputs(cls(**{**BASE, "sim_options": opts, **knobs}), data)
        np.testing.assert_array_equal(pred, ref_pred)
        assert recs.equals(ref_recs)


@pytest.mark.parametrize("max_neighbors", [1, 3, 8])
def test_max_neighbors_keeps_the_largest_shrunk_similarities(data, max_neighbors):
    opts = {"name": "cosine"}
    full = KNNWithMeans(sim_options=opts).fit(data).sim_.toarray()
    model = KNNWithMeans(sim_options=opts, max_neighbors=max_neighbors, rank_shrinkage=4.0)
    pruned = model.fit(data).sim_.toarray()
    dense, _, _ = dense_ratings(data)
    rated = (~np.isnan(dense)).astype(float)
    freq = rated.T @ rated  # common raters of each item pair
    shrunk = full * freq / (freq + 4.0)
    for row in range(full.shape[0]):
        off = np.delete(np.arange(full.shape[0]), row)
        off = off[full[row, off] > 0]
        order = off[np.lexsort((off, -shrunk[row, off]))]  # by shrunk similarity, ties by index
        kept = np.flatnonzero(pruned[row] > 0)
        np.testing.assert_array_equal(kept[kept != row], np.sort(order[:max_neighbors]))
        np.testing.assert_array_equal(pruned[row, kept], full[row, kept])  # unshrunk values
    np.testing.assert_array_equal(np.diag(pruned), 1.0)


def test_ties_take_the_smaller_item_id_first():
    # Items 1 and 2 have identical columns, so sim(3, 1) == sim(3, 2); with k=1 the smaller id
    # (1) is the neighbour of 3 for user 9, who rated 1 with 5 and 2 with 1.
    frame = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 2, 9, 9],
            "item_id": [1, 2, 3, 1, 2, 3, 1, 2],
            "rating": [4.0, 4, 3, 2, 2, 5, 5, 1],
        }
    )
    pair = pl.DataFrame({"user_id": [9], "item_id": [3]})
    for name in ("cosine", "msd"):
        model = KNNBasic(k=1, sim_options={"name": name}).fit(frame)
        assert model.sim_[2, 0] == model.sim_[2, 1] > 0
        assert model.predict(pair)[0] == 5.0  # r(9, 1), not r(9, 2)


def test_unknown_and_fallback_semantics(data):
    pairs = pl.DataFrame({"user_id": [10_000, 1, 10_000], "item_id": [101, 99_999, 99_999]})
    for cls in (KNNBasic, KNNWithMeans):
        model = cls().fit(data)
        got = model.predict_details(pairs)
        assert np.allclose(got["estimate"].to_numpy(), model.mu_)
        assert got["fallback"].all() and (got["n_neighbors"] == 0).all()
    model = KNNBaseline().fit(data)
    est = model.predict(pairs)  # Surprise: mu plus whichever bias is known
    assert est[0] == pytest.approx(model.mu_ + model.bi_[0])
    assert est[1] == pytest.approx(model.mu_ + model.bu_[0])
    assert est[2] == pytest.approx(model.mu_)


def test_min_k_fallbacks(data):
    pairs = all_pairs(data)
    for cls in (KNNBasic, KNNWithMeans, KNNBaseline):
        got = cls(min_k=1000).fit(data).predict_details(pairs)
        model = cls().fit(data)
        assert got["fallback"].all()
        u, i = model.data.index_pairs(pairs)
        lo, hi = model.data.rating_scale
        if cls is KNNBasic:
            want = np.full(len(u), model.mu_)
        elif cls is KNNWithMeans:
            want = model.means_[i]
        else:
            want = model.mu_ + model.bu_[u] + model.bi_[i]
        np.testing.assert_allclose(got["estimate"].to_numpy(), np.clip(want, lo, hi))


def test_estimates_are_clipped_to_the_rating_scale(data):
    model = KNNBasic().fit(data, rating_scale=(2.0, 3.0))
    est = model.predict(all_pairs(data))
    assert est.min() >= 2.0 and est.max() <= 3.0 and (est == 2.0).any() and (est == 3.0).any()


def test_bad_params_name_the_parameter():
    for kwargs, match in [
        ({"k": 0}, "'k'"),
        ({"min_k": -1}, "'min_k'"),
        ({"max_neighbors": 0}, "'max_neighbors'"),
        ({"block_size": 2.5}, "'block_size'"),
        ({"rank_weight": "log"}, "'rank_weight'"),
        ({"rank_shrinkage": -1}, "'rank_shrinkage'"),
        ({"rank_neighbors": "both"}, "'rank_neighbors'"),
        ({"bsl_options": {"method": "adam"}}, "bsl_options.method"),
        ({"bsl_options": {"reg": 0.1}}, "'reg' is an SGD option"),
        ({"bsl_options": {"n_epoch": 3}}, "n_epoch.*'bsl_options.n_epochs'"),
        ({"neighbours": 3}, "neighbours"),
    ]:
        with pytest.raises(ConfigError, match=match):
            KNNWithMeans(**kwargs)


# -- ranking scores and explanations against dense loops ---------------------------------------
def ref_rank_scores(frame, *, name, user_based, k, shrinkage, weight, neighbors="candidate"):
    """Dense ranking scores: top-k shrunk neighbours of the candidate (or user), weighted sums."""
    dense, _, _ = dense_ratings(frame)
    fit = ref_fit(dense, name=name, user_based=user_based)
    x_mat = fit["x_mat"]
    rated = ~np.isnan(x_mat)
    freq = rated.astype(float) @ rated.T.astype(float)
    shrunk = np.where(fit["sim"] > 0, fit["sim"] * freq / (freq + shrinkage), 0.0)
    np.fill_diagonal(shrunk, 0.0)
    user_mean = np.nanmean(dense, axis=1, keepdims=True)
    w = {
        "rating": dense,
        "binary": np.where(np.isnan(dense), np.nan, 1.0),
        "centered": dense - user_mean,
    }[weight]
    w_x = w if user_based else w.T  # x rows
    n_x = x_mat.shape[0]
    top = np.zeros_like(shrunk)
    for x in range(n_x):
        order = np.lexsort((np.arange(n_x), -shrunk[x]))[:k]
        order = order[shrunk[x, order] > 0]
        top[x, order] = shrunk[x, order]
    if neighbors == "rated":
        top = top.T.copy()  # x receives evidence from the x' that have x in their top k
    # score[x, y] = sum_x' top[x, x'] * w[x', y] over x' that rated y
    terms = top[:, :, None] * np.nan_to_num(w_x)[None, :, :]
    has = (top[:, :, None] > 0) & ~np.isnan(w_x)[None, :, :]
    scores = np.where(has.any(axis=1), terms.sum(axis=1), np.nan)  # x by y
    return (scores if user_based else scores.T), top, w_x


@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("weight", ["rating", "binary", "centered"])
@pytest.mark.parametrize("neighbors", ["candidate", "rated"])
def test_rank_scores_match_dense_reference(data, user_based, weight, neighbors):
    model = KNNWithMeans(
        k=5,
        sim_options={"name": "msd", "user_based": user_based},
        rank_weight=weight,
        rank_neighbors=neighbors,
        rank_shrinkage=3.0,
    ).fit(data)
    want, _, _ = ref_rank_scores(
        data,
        name="msd",
        user_based=user_based,
        k=5,
        shrinkage=3.0,
        weight=weight,
        neighbors=neighbors,
    )
    got = model.score_users(np.arange(model.data.n_users))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-10)


@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("weight", ["rating", "binary", "centered"])
@pytest.mark.parametrize("neighbors", ["candidate", "rated"])
def test_topn_is_the_brute_force_ranking_of_the_reference_scores(
    data, user_based, weight, neighbors
):
    model = KNNWithMeans(
        k=4,
        sim_options={"name": "msd", "user_based": user_based},
        rank_weight=weight,
        rank_neighbors=neighbors,
        rank_shrinkage=3.0,
    ).fit(data)
    want_scores, _, _ = ref_rank_scores(
        data,
        name="msd",
        user_based=user_based,
        k=4,
        shrinkage=3.0,
        weight=weight,
        neighbors=neighbors,
    )
    users = np.arange(model.data.n_users)
    seen = seen_mask(model.data.user_items, users)
    scores = model.score_users(users)
    np.testing.assert_array_equal(np.isnan(scores), np.isnan(want_scores))
    for n in (1, 3, 30):
        for block_size in (None, 1, 7):
            top = model.topn_indices(n, block_size=block_size)
            got = list(zip(top.users.tolist(), top.ranks.tolist(), top.items.tolist(), strict=True))
            # ranked on the model's own floats (the reference's differ in the last bits, which
            # can swap exact ties); those floats are the reference's up to rounding
            assert got == brute_force_topn(scores, seen, n)
            np.testing.assert_allclose(top.scores, want_scores[top.users, top.items], rtol=1e-10)


@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("neighbors", ["candidate", "rated"])
def test_explanations_match_dense_reference(data, user_based, neighbors):
    model = KNNWithMeans(
        k=5,
        sim_options={"name": "cosine", "user_based": user_based},
        rank_neighbors=neighbors,
        rank_shrinkage=3.0,
    ).fit(data)
    recs = model.recommend(4)
    got = model.explain(recs)
    assert got.columns == [*recs.columns, "because"]
    _, top, w_x = ref_rank_scores(
        data,
        name="cosine",
        user_based=user_based,
        k=5,
        shrinkage=3.0,
        weight="rating",
        neighbors=neighbors,
    )
    users, items = model.data.users, model.data.items
    u, i = model.data.index_pairs(recs)
    for row, (uu, ii) in enumerate(zip(u, i, strict=True)):
        x, y = (uu, ii) if user_based else (ii, uu)
        contrib = top[x] * np.nan_to_num(w_x[:, y])
        order = np.lexsort((np.arange(len(contrib)), -contrib))
        order = order[contrib[order] > 0][:3]
        ids = (users if user_based else items).raw(order).to_list()
        assert got["because"][row].to_list() == ids
    assert got["because"].list.len().max() <= 3
    assert (got["because"].list.len() > 0).all()  # every recommendation has evidence


def test_planted_clusters_recommend_within_the_cluster():
    # Users 1-20 like items 1-10 and dislike 11-20; users 21-40 the opposite. A new user who
    # rated 1-5 highly should get 6-10 first.
    rng = np.random.default_rng(0)
    rows = []
    for u in range(1, 41):
        liked = range(1, 11) if u <= 20 else range(11, 21)
        for i in rng.choice(list(liked), 6, replace=False):
            rows.append((u, int(i), 5.0))
    rows += [(99, i, 5.0) for i in range(1, 6)]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "rating"], orient="row")
    model = KNNWithMeans(sim_options={"name": "cosine"}).fit(frame)
    recs = model.recommend(5, users=[99])
    assert sorted(recs["item_id"].to_list()) == [6, 7, 8, 9, 10]
    because = model.explain(recs)["because"].to_list()
    assert all(set(b) <= {1, 2, 3, 4, 5} and b for b in because)
