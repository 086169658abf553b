"""EASE against a dense numpy oracle, its signal, memory guard and item subset; the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import recsys_core.memory
from recsys_core.errors import ConfigError
from recsys_core.models.ease import EASE, ease_weights
from recsys_core.models.signal import signal_matrix
from tests.conftest import random_ratings
from tests.contract import ModelContract


def dense_ease(x: np.ndarray, reg: float) -> np.ndarray:
    """Oracle: ``B = I - P diag(1 / diag P)``, ``P = inv(X^T X + reg I)``, in float64."""
    p = np.linalg.inv(x.T @ x + reg * np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p / np.diag(p)[None, :]


def test_weights_equal_the_dense_reference():
    frame = random_ratings(n_users=60, n_items=50, density=0.2, seed=4)
    model = EASE(reg=7.0).fit(frame)
    x = signal_matrix(model.data.user_items, "graded", low=0.5).toarray().astype(np.float64)
    want = dense_ease(x, 7.0)
    np.testing.assert_allclose(model.B_, want, atol=2e-5)
    assert model.B_.dtype == np.float32
    assert (np.diag(model.B_) == 0).all()
    users = np.arange(model.data.n_users)
    np.testing.assert_allclose(model.score_users(users), x @ want, atol=1e-4)


def test_symmetrising_in_row_blocks_changes_nothing(monkeypatch):
    x = signal_matrix(random_ratings(40, 30, seed=1).pipe(_csr), "binary")
    whole = ease_weights(x, 3.0)
    monkeypatch.setattr("recsys_core.models.ease.SYMMETRISE_ROWS", 7)
    np.testing.assert_array_equal(ease_weights(x, 3.0), whole)


def _csr(frame: pl.DataFrame):
    from recsys_core.data.ids import RatingData

    return RatingData.from_frame(frame).user_items


def test_graded_signal_weights():
    frame = pl.DataFrame(
        {"user_id": [1, 1, 1, 2], "item_id": [1, 2, 3, 1], "rating": [5.0, 4.0, 3.5, 1.0]}
    )
    m = _csr(frame)
    graded = signal_matrix(m, "graded", low=0.5).toarray()
    np.testing.assert_array_equal(graded, [[1.0, 1.0, 0.5], [0.5, 0.0, 0.0]])
    np.testing.assert_array_equal(signal_matrix(m, "binary").toarray(), [[1, 1, 1], [1, 0, 0]])
    assert signal_matrix(m, "graded", low=0.0).nnz == 2
    assert m.data.tolist() == [5.0, 4.0, 3.5, 1.0], "signal_matrix modified its input"


def test_every_hyperparameter_changes_the_weights(ratings):
    base = EASE().fit(ratings).B_
    for change in ({"reg": 50.0}, {"signal": "binary"}, {"low_weight": 0.2}, {"threshold": 3.0}):
        assert not np.allclose(EASE(**change).fit(ratings).B_, base), change


def test_fitter_shares_the_gram_and_gives_the_same_weights_as_fit(ratings):
    from recsys_core.data.ids import RatingData

    fit = EASE.fitter(RatingData.from_frame(ratings), ratings)
    for params in ({"reg": 5.0}, {"reg": 50.0}, {"reg": 5.0, "low_weight": 0.2}, {"reg": 5.0}):
        model = fit(params)
        np.testing.assert_array_equal(model.B_, EASE(**params).fit(ratings).B_)
        assert model.params == EASE(**params).params and model.is_fitted
    assert model.recommend(3).equals(EASE(reg=5.0).fit(ratings).recommend(3))


def test_max_items_keeps_the_most_rated_and_leaves_the_rest_nan(ratings):
    model = EASE(max_items=10).fit(ratings)
    counts = np.bincount(model.data.user_items.indices, minlength=model.data.n_items)
    assert len(model.items_) == 10
    assert counts[model.items_].min() >= np.delete(counts, model.items_).max()
    scores = model.score_users(np.arange(5))
    outside = np.setdiff1d(np.arange(model.data.n_items), model.items_)
    assert np.isnan(scores[:, outside]).all() and np.isfinite(scores[:, model.items_]).all()
    recs = model.recommend(20)
    items = model.data.items.index_of(recs.get_column("item_id"))
    assert np.isin(items, model.items_).all()


def test_memory_guard_names_the_setting(ratings, monkeypatch):
    monkeypatch.setattr(recsys_core.memory, "available_bytes", lambda: 1000)
    with pytest.raises(ConfigError, match="max_items"):
        EASE().fit(ratings)


def test_bad_parameters_are_config_errors():
    for bad in ({"reg": 0.0}, {"signal": "counts"}, {"max_items": 0}, {"lam": 1.0}):
        with pytest.raises(ConfigError):
            EASE(**bad)


def test_save_load_keeps_float32_weights_and_subset(ratings, tmp_path: Path):
    model = EASE(max_items=12).fit(ratings)
    loaded = EASE.load(model.save(tmp_path / "ease.npz"))
    assert loaded.B_.dtype == np.float32
    np.testing.assert_array_equal(loaded.items_, model.items_)
    users = np.arange(model.data.n_users)
    np.testing.assert_array_equal(loaded.score_users(users), model.score_users(users))


class TestEASEContract(ModelContract):
    predicts_ratings = False

    @staticmethod
    def make(**overrides):
        return EASE(**{"reg": 5.0, **overrides})


@pytest.mark.ml100k
def test_ml100k_accuracy_floor(ml100k):
    from recsys_core.data.split import random_split
    from recsys_core.evaluation.metrics import ranking_metrics

    split = random_split(ml100k, 0.2, random_state=0)
    scores = ranking_metrics(EASE().fit(split.train).recommend(10), split.test)
    assert scores["ndcg"] >= 0.37 and scores["precision"] >= 0.265  # measured 0.390 / 0.280


def test_explain_matches_a_brute_force_of_the_score_terms():
    from recsys_core.models.signal import signal_matrix

    frame = random_ratings(n_users=30, n_items=40, density=0.3, seed=12)
    model = EASE(reg=3.0, max_items=30).fit(frame)  # 10 items EASE cannot score
    recs = model.recommend(8)
    extra = pl.DataFrame(  # an unknown user and an item outside max_items: no explanation
        {"user_id": [999, recs["user_id"][0]], "rank": [1, 9], "item_id": [recs["item_id"][0],
         model.data.items.raw(np.setdiff1d(np.arange(40), model.items_))[0]], "score": [0.0, 0.0]}
    ).cast(recs.schema)  # fmt: skip
    recs = pl.concat([recs, extra])
    got = model.explain(recs)["because"].to_list()
    x = signal_matrix(model.data.user_items, "graded", threshold=4.0, low=0.5).toarray()
    b = np.zeros((40, 40))
    b[np.ix_(model.items_, model.items_)] = model.B_
    u, j = model.data.index_pairs(recs)
    for row in range(recs.height):
        if u[row] < 0 or j[row] not in model.items_:
            assert got[row] == []
            continue
        terms = [
            (-x[u[row], i] * b[i, j[row]], i) for i in range(40) if x[u[row], i] * b[i, j[row]] > 0
        ]
        want = [model.data.items.raw(np.array([i]))[0] for _, i in sorted(terms)[:3]]
        assert got[row] == want
    assert sum(len(g) == 3 for g in got) > 100
