"""RatingBlend: contract, stacking is no worse than its best component on held-out data, refit
semantics (``keep_similarities``), and the ML-100k RMSE floor of the defaults."""

import numpy as np
import polars as pl
import pytest

from benchmarks.datasets import load
from recsys_core import BaselineOnly, KNNWithMeans
from recsys_core.data.split import random_split
from recsys_core.data.synthetic import generate_ratings
from recsys_core.errors import ConfigError
from recsys_core.evaluation.metrics import rmse
from recsys_core.models.rating_blend import RatingBlend, RatingBlendParams
from recsys_core.models.registry import build
from tests.conftest import ML100K
from tests.contract import ModelContract

SMALL = {
    "svd": {"model": "SVD", "params": {"n_factors": 4}},
    "knn": {"model": "KNNBaseline", "params": {"k": 10}},
}


class TestRatingBlendContract(ModelContract):
    folds_in = "no"
    finite_scores = False  # the blend of z-scores is NaN on the items a user rated

    @staticmethod
    def make(**overrides):
        return RatingBlend(**{"components": SMALL, **overrides})


def test_stacking_beats_or_matches_the_best_component():
    data = generate_ratings(300, 200, 12_000, seed=11)
    split = random_split(data, 0.2, random_state=3)
    truth = split.test["rating"].to_numpy()
    blend = RatingBlend(components=SMALL).fit(split.train)
    single = [rmse(truth, build(s).fit(split.train).predict(split.test)) for s in SMALL.values()]
    assert rmse(truth, blend.predict(split.test)) <= min(single) + 1e-3


def test_default_keeps_the_similarities_of_the_two_cheapest_to_spare_components():
    default = RatingBlendParams().components
    kept = {k for k, v in default.items() if v.get("keep_similarities")}
    assert kept == {"knn_users", "knn_means"}


def stacking_features(train: pl.DataFrame, models: list, pairs: pl.DataFrame) -> np.ndarray:
    """``[f, f * r_c for each c]`` with ``f = (1, log(1 + n_u), log(1 + n_i))`` from the
    training counts (0 when unknown), written out from the module docstring's formula."""
    n_u = pairs.join(train.group_by("user_id").len("n_u"), on="user_id", how="left")["n_u"]
    n_i = pairs.join(train.group_by("item_id").len("n_i"), on="item_id", how="left")["n_i"]
    f = np.column_stack(
        [
            np.ones(pairs.height),
            np.log(1 + n_u.fill_null(0).to_numpy()),
            np.log(1 + n_i.fill_null(0).to_numpy()),
        ]
    )
    return np.column_stack([f, *(f * m.predict(pairs)[:, None] for m in models)])


def test_predictions_are_the_stacking_formula_on_independently_fitted_components():
    data = generate_ratings(120, 80, 4_000, seed=5)
    comps = {
        "baseline": {"model": "BaselineOnly"},
        "means": {
            "model": "KNNWithMeans",
            "params": {"max_neighbors": 5},
            "keep_similarities": True,
        },
    }
    blend = RatingBlend(components=comps, ridge=0.5).fit(data)
    # the components built by hand (not through the registry), in name order
    inner = random_split(data, 0.2, random_state=0)
    fitted = [BaselineOnly().fit(inner.train), KNNWithMeans(max_neighbors=5).fit(inner.train)]
    x = stacking_features(inner.train, fitted, inner.test)
    y = inner.test["rating"].to_numpy()
    coef = np.linalg.solve(x.T @ x + 0.5 * np.eye(x.shape[1]), x.T @ y)
    np.testing.assert_allclose(blend.coef_, coef, rtol=1e-9)
    refit = [BaselineOnly().fit(data), fitted[1].with_ratings(data)]  # kept: validation sims
    pairs = pl.concat(
        [
            data.sample(300, seed=1).select("user_id", "item_id"),
            pl.DataFrame({"user_id": [10_000, 1], "item_id": [1, 10_000]}),
        ]
    )
    lo, hi = data["rating"].min(), data["rating"].max()
    want = np.clip(stacking_features(data, refit, pairs) @ coef, lo, hi)
    np.testing.assert_allclose(blend.predict(pairs), want, rtol=1e-9, atol=1e-12)


def test_keep_similarities_refits_all_but_the_similarities():
    data = generate_ratings(120, 80, 4_000, seed=6)
    means = {"model": "KNNWithMeans", "params": {"max_neighbors": 5}}
    comps = {**SMALL, "means": {**means, "keep_similarities": True}}
    kept = RatingBlend(components=comps).fit(data)
    fresh = RatingBlend(components={**SMALL, "means": means}).fit(data)
    np.testing.assert_array_equal(kept.coef_, fresh.coef_)  # same validation fits
    split = random_split(data, 0.2, random_state=0)
    want = build(means).fit(split.train).with_ratings(data)
    got = kept.components_["means"]
    assert got.data.user_items.nnz == data.height
    np.testing.assert_array_equal(got.sim_.toarray(), want.sim_.toarray())
    assert (got.sim_ != fresh.components_["means"].sim_).nnz > 0
    pairs = data.select("user_id", "item_id")
    np.testing.assert_array_equal(kept.predict(pairs[:300]), kept.predict(pairs)[:300])
    # the other components are refitted as usual
    np.testing.assert_array_equal(
        kept.components_["svd"].predict(pairs), fresh.components_["svd"].predict(pairs)
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"model": "SVD", "keep_similarities": True},  # not a KNN model
        {"model": "KNNWithMeans", "keep_similarities": "yes"},
        {"model": "KNNWithMeans", "keep_similarity": True},  # a typo
    ],
)
def test_keep_similarities_is_checked(spec):
    with pytest.raises(ConfigError, match=r"components\.bad"):
        RatingBlend(components={**SMALL, "bad": spec})


def test_a_blend_with_kept_similarities_saves_and_loads(tmp_path):
    data = generate_ratings(120, 80, 4_000, seed=7)
    comps = {**SMALL, "means": {"model": "KNNWithMeans", "keep_similarities": True}}
    blend = RatingBlend(components=comps).fit(data)
    loaded = RatingBlend.load(blend.save(tmp_path / "blend.npz"))
    pairs = data.select("user_id", "item_id")
    np.testing.assert_array_equal(loaded.predict(pairs), blend.predict(pairs))


@pytest.mark.ml100k
def test_ml100k_rmse_floor():
    if not ML100K.exists():
        pytest.skip("ml-100k not available")
    split = random_split(load("ml-100k"), 0.2, random_state=42)
    blend = RatingBlend().fit(split.train)
    assert rmse(split.test["rating"].to_numpy(), blend.predict(split.test)) <= 0.899  # 0.8973


def test_components_fitted_on_threads_equal_a_loop(monkeypatch):
    import recsys_core.models.rating_blend as module

    split = random_split(generate_ratings(120, 80, 3000, seed=5), 0.2, random_state=0)
    threaded = module.RatingBlend().fit(split.train)
    monkeypatch.setattr(module, "_each", lambda names, work: {n: work(n) for n in names})
    looped = module.RatingBlend().fit(split.train)
    np.testing.assert_array_equal(threaded.coef_, looped.coef_)
    np.testing.assert_array_equal(threaded.predict(split.test), looped.predict(split.test))
