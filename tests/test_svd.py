"""SVD and PureSVD: known answers (exact fits, planted structure, dense oracles), seeds,
hyperparameters, fallbacks, persistence and divergence."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_core import SVD, ConfigError, DataError, PureSVD, Recommender
from recsys_core.models.mf import als, sgd, sgd_kernel
from recsys_core.models.mf.factors import rows_times
from tests.conftest import random_ratings

WIDE = (-1e6, 1e6)  # a rating scale that never clips, for known-answer tests


def matrix_frame(values: np.ndarray, mask: np.ndarray | None = None) -> pl.DataFrame:
    """Ratings frame of the entries of ``values`` where ``mask`` (default: all)."""
    u, i = np.nonzero(np.ones_like(values, dtype=bool) if mask is None else mask)
    return pl.DataFrame({"user_id": u + 1, "item_id": i + 1, "rating": values[u, i]})


def all_pairs(n_users: int, n_items: int) -> pl.DataFrame:
    u, i = np.divmod(np.arange(n_users * n_items), n_items)
    return pl.DataFrame({"user_id": u + 1, "item_id": i + 1})


def low_rank(n_users: int, n_items: int, rank: int, seed: int) -> np.ndarray:
    """``3 + b_u + b_i + P Q^T``: a planted biased rank-``rank`` matrix."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.7, (n_users, rank)), rng.normal(0, 0.7, (n_items, rank))
    return 3 + rng.normal(0, 0.5, (n_users, 1)) + rng.normal(0, 0.5, (1, n_items)) + p @ q.T


# -- known answers ------------------------------------------------------------------------------
@pytest.mark.parametrize("biased", [True, False])
def test_als_reconstructs_a_full_rank_matrix_exactly(biased):
    values = np.random.default_rng(0).uniform(1, 5, (9, 6))  # rank 6
    k = 5 if biased else 6  # [1, q_i] or q_i: 6 features for 6 items, an exact fit exists
    model = SVD(n_factors=k, n_epochs=3, reg_all=0.0, biased=biased)
    model.fit(matrix_frame(values), rating_scale=WIDE)
    est = model.predict(all_pairs(9, 6)).reshape(9, 6)
    np.testing.assert_allclose(est, values, atol=1e-9)


def test_unregularised_unbiased_als_converges_to_the_truncated_svd():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(12, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(8, 5)))
    values = 3 + (u * [9.0, 6.0, 0.6, 0.4, 0.2]) @ v.T  # clear gap after 2 singular values
    model = SVD(n_factors=2, n_epochs=60, reg_all=0.0, biased=False)
    model.fit(matrix_frame(values), rating_scale=WIDE)
    uu, s, vt = np.linalg.svd(values)
    best = (uu[:, :2] * s[:2]) @ vt[:2]  # Eckart-Young: the best rank-2 approximation
    np.testing.assert_allclose(model.pu @ model.qi.T, best, atol=1e-8)


@pytest.mark.parametrize(
    ("solver", "kwargs"),
    [("als", {"n_epochs": 30, "reg_all": 0.005}), ("sgd", {"n_epochs": 150, "reg_all": 0.0})],
)
def test_planted_low_rank_held_out_entries_are_recovered(solver, kwargs):
    values = low_rank(40, 30, 3, seed=2)
    observed = np.random.default_rng(3).random(values.shape) < 0.6
    model = SVD(solver=solver, n_factors=3, init_std_dev=0.3, lr_all=0.02, **kwargs)
    model.fit(matrix_frame(values, observed), rating_scale=WIDE)
    held_out = matrix_frame(values, ~observed)
    err = model.predict(held_out) - held_out["rating"].to_numpy()
    spread = values[~observed].std()  # the error of predicting each held-out mean
    assert np.sqrt(np.mean(err**2)) < 0.05 * spread  # one factor: ~0.6 * spread


def test_sgd_follows_surprise_update_rules_by_hand():
    frame = pl.DataFrame(
        {"user_id": [1, 1, 2, 2, 3], "item_id": [7, 8, 7, 9, 8], "rating": [4.0, 2, 5, 3, 1]}
    )
    p = {"n_factors": 2, "n_epochs": 3, "lr_all": 0.05, "reg_all": 0.1, "lr_qi": 0.03}
    model = SVD(solver="sgd", random_state=5, **p).fit(frame)
    # the same updates written out plainly, in the documented order (user, then item index)
    rng = np.random.default_rng(5)
    pu, qi = rng.normal(0, 0.1, (3, 2)), rng.normal(0, 0.1, (3, 2))
    bu, bi, mu = np.zeros(3), np.zeros(3), 3.0
    ratings = [(0, 0, 4.0), (0, 1, 2.0), (1, 0, 5.0), (1, 2, 3.0), (2, 1, 1.0)]
    for _ in range(3):
        for u, i, r in ratings:
            err = r - (mu + bu[u] + bi[i] + qi[i] @ pu[u])
            bu[u] += 0.05 * (err - 0.1 * bu[u])
            bi[i] += 0.05 * (err - 0.1 * bi[i])
            pu[u], qi[i] = (
                pu[u] + 0.05 * (err * qi[i] - 0.1 * pu[u]),
                qi[i] + 0.03 * (err * pu[u] - 0.1 * qi[i]),
            )
    for got, want in [(model.bu, bu), (model.bi, bi), (model.pu, pu), (model.qi, qi)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)  # float32 inside the fit


@pytest.mark.parametrize("biased", [True, False])
def test_compiled_sgd_equals_its_interpreted_source(biased):
    m = SVD().fit(random_ratings(n_users=12, n_items=9, seed=3)).data.user_items  # its CSR
    t = SVD(lr_bi=0.01, reg_pu=0.05, lr_qi=0.02).params.terms()
    runs = []
    for kernel in (sgd_kernel.epochs, sgd_kernel.epochs.py_func):
        rng = np.random.default_rng(0)
        pu, qi = (rng.normal(0, 0.1, shape).astype(sgd.DTYPE) for shape in [(12, 5), (9, 5)])
        bu, bi = np.zeros(12, sgd.DTYPE), np.zeros(9, sgd.DTYPE)
        lr = np.array([t.lr_bu, t.lr_bi, t.lr_pu, t.lr_qi], sgd.DTYPE)
        reg = np.array([t.reg_bu, t.reg_bi, t.reg_pu, t.reg_qi], sgd.DTYPE)
        mu = sgd.DTYPE(3.0 if biased else 0.0)
        ratings = m.data.astype(sgd.DTYPE)
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)  # as fit_sgd
        done = kernel(indptr, indices, ratings, mu, bu, bi, pu, qi, lr, reg, biased, 4)
        runs.append((done, bu, bi, pu, qi))
    assert runs[0][0] == runs[1][0] == 4
    for got, want in zip(runs[0][1:], runs[1][1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert biased or not runs[0][1].any()


@pytest.mark.parametrize("reg", [0.0, 0.2])  # float64 path, then the float32 path
def test_batched_ridge_solves_equal_per_row_dense_solves(reg):
    m = SVD().fit(random_ratings(n_users=25, n_items=30, density=0.4, seed=4)).data.user_items
    rng = np.random.default_rng(0)
    feats, offsets = rng.normal(size=(30, 4)), rng.normal(size=30)
    regs = np.array([reg, reg / 2, reg, reg])
    batches = als.plan_batches(m, 4, budget=200)  # several batches
    batches = [als.pad_rows(m, b.rows, chunk=3) for b in batches]  # multi-chunk Gram sums
    with als.ThreadPoolExecutor(2) as pool:
        got = als.solve_side(m.shape[0], batches, feats, offsets, regs + 1e-9, pool)
    for u in range(m.shape[0]):
        cols = m.indices[m.indptr[u] : m.indptr[u + 1]]
        y, t = feats[cols], m.data[m.indptr[u] : m.indptr[u + 1]] - offsets[cols]
        want = np.linalg.solve(y.T @ y + len(cols) * np.diag(regs + 1e-9), y.T @ t)
        np.testing.assert_allclose(got[u], want, rtol=1e-4 if reg else 1e-8, atol=1e-5)


# -- predictions, fallbacks, ranking ------------------------------------------------------------
def test_unknown_users_and_items_fall_back_to_biases_and_estimates_are_clipped(ratings):
    model = SVD(n_factors=4, n_epochs=3, reg_all=0.01).fit(ratings)
    data, f = model.data, model.factors_
    u, i = data.users.index_of([1])[0], data.items.index_of([101])[0]
    pairs = pl.DataFrame({"user_id": [1, 999, 1, 999], "item_id": [101, 101, 999, 998]})
    want = [f.mu + f.bu[u] + f.bi[i] + f.pu[u] @ f.qi[i], f.mu + f.bi[i], f.mu + f.bu[u], f.mu]
    np.testing.assert_allclose(model.predict(pairs), np.clip(want, 1, 5))
    all_est = model.predict(ratings)
    assert all_est.min() >= 1 and all_est.max() <= 5
    raw = model.factors_.estimate(*data.index_pairs(ratings))
    assert (raw > 5).any() or (raw < 1).any(), "test data should exercise the clipping"


def test_unbiased_model_uses_factors_only_and_falls_back_to_the_mean(ratings):
    model = SVD(biased=False, n_factors=4, n_epochs=3).fit(ratings)
    assert not model.bu.any() and not model.bi.any()
    u, i = model.data.users.index_of([2])[0], model.data.items.index_of([105])[0]
    pairs = pl.DataFrame({"user_id": [2, 999], "item_id": [105, 105]})
    mu = ratings["rating"].mean()
    np.testing.assert_allclose(model.predict(pairs), np.clip([model.pu[u] @ model.qi[i], mu], 1, 5))


def brute_force_top(scores: np.ndarray, seen: np.ndarray, n: int) -> list[list[int]]:
    """Full sort of each row by (-score, item index), seen items dropped."""
    out = []
    for row, mask in zip(scores, seen, strict=True):
        items = [j for j in np.lexsort((np.arange(len(row)), -row)) if not mask[j]]
        out.append(items[:n])
    return out


def recommended(model: Recommender, n: int, block_size: int) -> list[list[int]]:
    top = model.topn_indices(n, block_size=block_size)
    return [top.items[top.users == u].tolist() for u in range(model.data.n_users)]


@pytest.mark.parametrize("block_size", [1, 7, 1000])
def test_svd_top_n_equals_a_brute_force_sort(ratings, block_size):
    model = SVD(n_factors=6, n_epochs=4).fit(ratings)
    seen = model.data.user_items.toarray() != 0
    dense = model.bu[:, None] + model.bi[None, :] + model.pu @ model.qi.T + model.factors_.mu
    assert recommended(model, 8, block_size) == brute_force_top(dense, seen, 8)


@pytest.mark.parametrize("block_size", [1, 7, 1000])
def test_pure_svd_top_n_equals_a_dense_svd_oracle(ratings, block_size):
    model = PureSVD(n_factors=5).fit(ratings)
    r = model.data.user_items.toarray()
    _, _, vt = np.linalg.svd(r)  # dense LAPACK SVD, independent of ARPACK
    dense = r @ vt[:5].T @ vt[:5]
    assert recommended(model, 8, block_size) == brute_force_top(dense, r != 0, 8)


def test_pure_svd_predict_is_nan_and_k_must_fit():
    frame = random_ratings()
    assert np.isnan(PureSVD(n_factors=3).fit(frame).predict(frame)).all()
    with pytest.raises(DataError, match="n_factors=30"):
        PureSVD(n_factors=30).fit(frame)  # 30 users


def test_rows_times_does_not_depend_on_the_block():
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(50, 13)), rng.normal(size=(13, 300))
    full = rows_times(left, np.arange(50), right)
    for size in (1, 2, 3, 5, 17):
        for s in range(0, 50, size):
            rows = np.arange(s, min(50, s + size))
            assert np.array_equal(rows_times(left, rows, right), full[rows])


# -- seeds, hyperparameters, performance knobs --------------------------------------------------
@pytest.mark.parametrize("solver", ["als", "sgd"])
def test_same_seed_same_factors_different_seed_different(ratings, solver):
    a, b, c = (SVD(solver=solver, n_epochs=3, random_state=s).fit(ratings) for s in (1, 1, 2))
    for name in ("bu", "bi", "pu", "qi"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.pu, c.pu) and not np.allclose(a.qi, c.qi)


def test_pure_svd_seed_only_moves_the_start_vector(ratings):
    a, b, c = (PureSVD(n_factors=4, random_state=s).fit(ratings) for s in (1, 1, 2))
    assert np.array_equal(a.item_factors_, b.item_factors_)
    users = np.arange(a.data.n_users)
    np.testing.assert_allclose(a.score_users(users), c.score_users(users), atol=1e-9)
    assert not np.array_equal(
        PureSVD(n_factors=3).fit(ratings).score_users(users), a.score_users(users)
    )


BASE = {"n_factors": 4, "n_epochs": 3, "reg_all": 0.05, "lr_all": 0.01}
CHANGES = {
    "n_factors": 3,
    "n_epochs": 2,
    "biased": False,
    "init_mean": 0.05,
    "init_std_dev": 0.2,
    "reg_all": 0.1,
    "reg_bu": 0.2,
    "reg_bi": 0.2,
    "reg_pu": 0.2,
    "reg_qi": 0.2,
    "random_state": 9,
}
SGD_ONLY = {"lr_all": 0.02, "lr_bu": 0.02, "lr_bi": 0.02, "lr_pu": 0.02, "lr_qi": 0.02}


def outputs(model: SVD, frame: pl.DataFrame) -> np.ndarray:
    return np.concatenate([model.predict(frame), model.score_users(np.arange(5)).ravel()])


@pytest.mark.parametrize("solver", ["als", "sgd"])
def test_every_hyperparameter_changes_the_output(ratings, solver):
    assert set(SVD.Params.model_fields) == {*CHANGES, *SGD_ONLY, "solver"}
    base = outputs(SVD(solver=solver, **BASE).fit(ratings), ratings)
    other = "sgd" if solver == "als" else "als"
    assert not np.allclose(outputs(SVD(solver=other, **BASE).fit(ratings), ratings), base)
    changes = {**CHANGES, **(SGD_ONLY if solver == "sgd" else {})}
    for name, value in changes.items():
        changed = outputs(SVD(solver=solver, **{**BASE, name: value}).fit(ratings), ratings)
        assert not np.allclose(changed, base), f"{name} did not change the {solver} output"
    if solver == "als":  # learning rates are documented as SGD-only
        for name, value in SGD_ONLY.items():
            same = outputs(SVD(solver="als", **{**BASE, name: value}).fit(ratings), ratings)
            assert np.array_equal(same, base)


def test_threads_and_batch_budget_change_nothing(ratings, monkeypatch):
    base = SVD(n_factors=5, n_epochs=3).fit(ratings)
    monkeypatch.setattr(als, "THREADS", 1)
    monkeypatch.setattr(als, "GATHER_BUDGET", 300)
    other = SVD(n_factors=5, n_epochs=3).fit(ratings)
    for name in ("bu", "bi", "pu", "qi"):
        np.testing.assert_allclose(
            getattr(other, name), getattr(base, name), rtol=1e-12, atol=1e-14
        )


def test_bad_params_name_the_parameter():
    for bad in [
        {"solver": "adam"},
        {"n_factors": 0},
        {"n_factors": 2.5},
        {"n_epochs": 0},
        {"biased": 1},
        {"lr_all": 0},
        {"reg_all": -1},
        {"reg_qi": -0.1},
        {"lr_bu": 0},
        {"init_std_dev": -1},
        {"random_state": -3},
    ]:
        (name,) = bad
        with pytest.raises(ConfigError, match=f"'{name}'"):
            SVD(**bad)
    with pytest.raises(ConfigError, match=r"invalid value for 'lr_all' in SVD: '0.01'"):
        SVD(lr_all="0.01")  # a string is not a number, even one that parses
    with pytest.raises(ConfigError, match="did you mean 'lr_all'"):
        SVD(lr_al=0.1)
    with pytest.raises(ConfigError, match="'n_factors'"):
        PureSVD(n_factors=0)


# -- persistence and divergence -----------------------------------------------------------------
@pytest.mark.parametrize("solver", ["als", "sgd"])
def test_save_load_round_trip_restores_factors(ratings, tmp_path, solver):
    model = SVD(solver=solver, n_factors=4, n_epochs=2, biased=solver == "als").fit(ratings)
    loaded = Recommender.load(model.save(tmp_path / "svd.npz"))
    assert isinstance(loaded, SVD) and loaded.params == model.params
    for name in ("bu", "bi", "pu", "qi"):
        assert np.array_equal(getattr(loaded, name), getattr(model, name))
    pairs = pl.DataFrame({"user_id": [1, 999, 3], "item_id": [999, 101, 102]})
    np.testing.assert_array_equal(loaded.predict(pairs), model.predict(pairs))


def test_divergence_raises_a_data_error(ratings):
    with pytest.raises(DataError, match=r"sgd.*epoch \d+.*NaN/inf"):
        SVD(solver="sgd", lr_all=50.0, n_epochs=5).fit(ratings)
    huge = ratings.with_columns(pl.col("rating") * 1e300)
    with pytest.raises(DataError, match=r"als.*NaN/inf"):
        SVD(n_epochs=2).fit(huge)
