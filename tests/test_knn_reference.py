"""A dense, loop-based reference of Surprise's KNN family, and the sparse code checked against it.

The reference follows Surprise's code line by line (``similarities.pyx``, ``knns.py``,
``optimize_baselines.pyx``) on a dense ratings array with NaN for "not rated"; inner ids are
the sorted raw ids, which is the order Surprise reads ratings sorted by user then item.
"""

from __future__ import annotations

import heapq

import numpy as np
import polars as pl
import pytest

from recsys_core.models.baseline import compute_baselines
from recsys_core.models.knn import KNNBaseline, KNNBasic, KNNWithMeans, SimOptions
from recsys_core.models.knn.similarities import similarity_matrix
from tests.conftest import random_ratings

SIMS = ("cosine", "msd", "pearson", "pearson_baseline")


# -- the reference -----------------------------------------------------------------------------
def dense_ratings(frame: pl.DataFrame) -> tuple[np.ndarray, list, list]:
    """users x items array (NaN = unrated) with sorted raw ids."""
    users = sorted(frame["user_id"].unique().to_list())
    items = sorted(frame["item_id"].unique().to_list())
    out = np.full((len(users), len(items)), np.nan)
    ui, ii = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    for u, i, r in frame.select("user_id", "item_id", "rating").iter_rows():
        out[ui[u], ii[i]] = r
    return out, users, items


def ref_als(m: np.ndarray, n_epochs=10, reg_i=10.0, reg_u=15.0):
    mu = np.nanmean(m)
    bu, bi = np.zeros(m.shape[0]), np.zeros(m.shape[1])
    for _ in range(n_epochs):
        for i in range(m.shape[1]):
            dev = 0.0
            for u in np.flatnonzero(~np.isnan(m[:, i])):
                dev += m[u, i] - mu - bu[u]
            bi[i] = dev / (reg_i + np.count_nonzero(~np.isnan(m[:, i])))
        for u in range(m.shape[0]):
            dev = 0.0
            for i in np.flatnonzero(~np.isnan(m[u])):
                dev += m[u, i] - mu - bi[i]
            bu[u] = dev / (reg_u + np.count_nonzero(~np.isnan(m[u])))
    return bu, bi


def ref_sgd(m: np.ndarray, n_epochs=20, reg=0.02, lr=0.005):
    mu = np.nanmean(m)
    bu, bi = np.zeros(m.shape[0]), np.zeros(m.shape[1])
    for _ in range(n_epochs):
        for u in range(m.shape[0]):
            for i in np.flatnonzero(~np.isnan(m[u])):
                err = m[u, i] - (mu + bu[u] + bi[i])
                bu[u] += lr * (err - reg * bu[u])
                bi[i] += lr * (err - reg * bi[i])
    return bu, bi


def ref_similarity(
    x: np.ndarray, name: str, min_support=1, shrinkage=100.0, bx=None, by=None, mu=None
) -> np.ndarray:
    """Similarities between the rows of ``x`` (rows x columns, NaN = unrated), Surprise's loops."""
    n = x.shape[0]
    sim = np.eye(n)
    min_sprt = max(2, min_support) if name == "pearson_baseline" else min_support
    for a in range(n):
        for b in range(a + 1, n):
            common = np.flatnonzero(~np.isnan(x[a]) & ~np.isnan(x[b]))
            freq = len(common)
            if freq < min_sprt or freq == 0:
                continue
            ra, rb = x[a, common], x[b, common]
            if name == "cosine":
                value = np.sum(ra * rb) / np.sqrt(np.sum(ra**2) * np.sum(rb**2))
            elif name == "msd":
                value = 1 / (np.sum((ra - rb) ** 2) / freq + 1)
            elif name == "pearson":
                num = freq * np.sum(ra * rb) - np.sum(ra) * np.sum(rb)
                den = np.sqrt(
                    (freq * np.sum(ra**2) - np.sum(ra) ** 2)
                    * (freq * np.sum(rb**2) - np.sum(rb) ** 2)
                )
                value = 0.0 if den == 0 else num / den
            else:
                da = ra - (mu + by[common] + bx[a])
                db = rb - (mu + by[common] + bx[b])
                value = np.sum(da * db) / np.sqrt(np.sum(da**2) * np.sum(db**2))
                value *= (freq - 1) / (freq - 1 + shrinkage)
            sim[a, b] = sim[b, a] = value
    return sim


def ref_fit(m, *, name, user_based, min_support=1, shrinkage=100.0) -> dict:
    """What Surprise's ``fit`` computes: global mean, ALS baselines, similarities, means."""
    mu = np.nanmean(m)
    bu, bi = ref_als(m)
    x_mat = m if user_based else m.T
    bx, by = (bu, bi) if user_based else (bi, bu)
    sim = ref_similarity(x_mat, name, min_support, shrinkage, bx, by, mu)
    return {
        "m": m,
        "mu": mu,
        "bu": bu,
        "bi": bi,
        "bx": bx,
        "by": by,
        "x_mat": x_mat,
        "sim": sim,
        "means": np.nanmean(x_mat, axis=1),
        "user_based": user_based,
    }


def ref_predict(fit: dict, algo: str, u: int, i: int, *, k: int, min_k: int):
    """Surprise's ``predict`` for inner ids ``u``, ``i`` (-1 = unknown): (estimate, actual_k)."""
    m, mu, bu, bi = fit["m"], fit["mu"], fit["bu"], fit["bi"]
    bx, by, x_mat, sim, means = fit["bx"], fit["by"], fit["x_mat"], fit["sim"], fit["means"]
    lo, hi = np.nanmin(m), np.nanmax(m)
    baseline = mu + (bu[u] if u >= 0 else 0) + (bi[i] if i >= 0 else 0)
    if u < 0 or i < 0:
        return float(np.clip(baseline if algo == "baseline" else mu, lo, hi)), 0
    x, y = (u, i) if fit["user_based"] else (i, u)
    raters = np.flatnonzero(~np.isnan(x_mat[:, y]))  # ascending inner id = reading order
    neighbors = [(x2, sim[x, x2], x_mat[x2, y]) for x2 in raters]
    k_neighbors = heapq.nlargest(k, neighbors, key=lambda t: t[1])
    sum_sim = sum_ratings = actual_k = 0
    for nb, s, r in k_neighbors:
        if s > 0:
            sum_sim += s
            if algo == "basic":
                sum_ratings += s * r
            elif algo == "means":
                sum_ratings += s * (r - means[nb])
            else:
                sum_ratings += s * (r - (mu + bx[nb] + by[y]))
            actual_k += 1
    if algo == "basic":
        est = sum_ratings / sum_sim if actual_k >= min_k and sum_sim > 0 else mu
    else:
        est = means[x] if algo == "means" else baseline
        if actual_k < min_k:
            sum_ratings = 0
        est += sum_ratings / sum_sim if sum_sim else 0
    return float(np.clip(est, lo, hi)), actual_k


# -- checks against it -------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["stars", "continuous"])
def small(request) -> pl.DataFrame:
    """Integer stars (msd takes the packed path) or continuous ratings (the generic path)."""
    frame = random_ratings(n_users=14, n_items=11, density=0.45, seed=7)
    if request.param == "continuous":
        noise = np.random.default_rng(3).uniform(-0.5, 0.5, frame.height)
        frame = frame.with_columns((pl.col("rating") + noise).clip(1, 5).alias("rating"))
    return frame


def _x(frame, user_based):
    from recsys_core.data.ids import RatingData

    data = RatingData.from_frame(frame)
    m = data.user_items if user_based else data.user_items.T.tocsr()
    m.sort_indices()
    return data, m


@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("name", SIMS)
@pytest.mark.parametrize("min_support", [0, 1, 3])
def test_similarities_match_reference(small, name, user_based, min_support):
    dense, _, _ = dense_ratings(small)
    data, x = _x(small, user_based)
    bu, bi = compute_baselines(data.user_items, data.global_mean)
    bx, by = (bu, bi) if user_based else (bi, bu)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    res = x.data - ((data.global_mean + by[x.indices]) + bx[rows])
    opts = SimOptions(name=name, user_based=user_based, min_support=min_support, shrinkage=7)
    ref = ref_fit(dense, name=name, user_based=user_based, min_support=min_support, shrinkage=7)
    ref = ref["sim"]
    for block_size in (None, 1, 4):
        got = similarity_matrix(x, opts, residuals=res, block_size=block_size).sim.toarray()
        np.testing.assert_allclose(got, np.where(ref > 0, ref, 0.0), rtol=1e-10, atol=1e-15)


ALGOS = {"basic": KNNBasic, "means": KNNWithMeans, "baseline": KNNBaseline}


@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize(
    ("name", "k", "min_k"),
    [
        ("msd", 3, 1),
        ("cosine", 2, 2),
        ("pearson", 40, 1),
        ("pearson_baseline", 4, 2),
    ],
)
def test_predictions_match_reference(small, algo, user_based, name, k, min_k):
    dense, users, items = dense_ratings(small)
    sim_options = {"name": name, "user_based": user_based, "min_support": 2, "shrinkage": 5}
    model = ALGOS[algo](k=k, min_k=min_k, sim_options=sim_options).fit(small)
    u_grid, i_grid = np.meshgrid(np.arange(-1, len(users)), np.arange(-1, len(items)))
    u_idx, i_idx = u_grid.ravel(), i_grid.ravel()
    pairs = pl.DataFrame(
        {
            "user_id": [users[u] if u >= 0 else 10_000 for u in u_idx],
            "item_id": [items[i] if i >= 0 else 99_999 for i in i_idx],
        }
    )
    got = model.predict_details(pairs)
    fit = ref_fit(dense, name=name, user_based=user_based, min_support=2, shrinkage=5.0)
    want = [
        ref_predict(fit, algo, u, i, k=k, min_k=min_k) for u, i in zip(u_idx, i_idx, strict=True)
    ]
    np.testing.assert_allclose(got["estimate"].to_numpy(), [w[0] for w in want], rtol=1e-10)
    np.testing.assert_array_equal(got["n_neighbors"].to_numpy(), [w[1] for w in want])


def test_baselines_match_reference(small):
    from recsys_core.data.ids import RatingData

    dense, _, _ = dense_ratings(small)
    data = RatingData.from_frame(small)
    for options, ref in [
        ({}, ref_als(dense)),
        ({"n_epochs": 3, "reg_i": 2, "reg_u": 0}, ref_als(dense, 3, 2.0, 0.0)),
        ({"method": "sgd"}, ref_sgd(dense)),
        (
            {"method": "sgd", "n_epochs": 7, "reg": 0.5, "learning_rate": 0.05},
            ref_sgd(dense, 7, 0.5, 0.05),
        ),
    ]:
        bu, bi = compute_baselines(data.user_items, data.global_mean, options)
        np.testing.assert_allclose(bu, ref[0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(bi, ref[1], rtol=1e-10, atol=1e-13)


def test_packed_msd_equals_the_generic_path(monkeypatch):
    from recsys_core.models.knn import similarities

    frame = random_ratings(n_users=60, n_items=45, density=0.3, seed=5)
    half_stars = frame.with_columns(pl.col("rating") - 0.5 * (pl.col("user_id") % 2))
    for data in (frame, half_stars):
        _, x = _x(data, user_based=False)
        opts = SimOptions(name="msd", min_support=2)
        assert similarities.PackedSquaredDiffs.build(x) is not None
        packed = similarity_matrix(x, opts)
        monkeypatch.setattr(similarities.PackedSquaredDiffs, "build", lambda x: None)
        generic = similarity_matrix(x, opts)
        monkeypatch.undo()
        for a, b in [(packed.sim, generic.sim), (packed.rank, generic.rank)]:
            np.testing.assert_array_equal(a.toarray(), b.toarray())


@pytest.mark.parametrize("name", SIMS)
@pytest.mark.parametrize("min_support", [1, 4])  # 4: some pairs dropped (the compressed path)
def test_rank_built_later_equals_rank_built_with_the_similarities(small, name, min_support):
    from recsys_core.models.knn.similarities import rank_matrix

    data, x = _x(small, user_based=False)
    bu, bi = compute_baselines(data.user_items, data.global_mean)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    res = x.data - ((data.global_mean + bu[x.indices]) + bi[rows])
    opts = SimOptions(name=name, min_support=min_support, shrinkage=7)
    eager = similarity_matrix(x, opts, residuals=res, rank_k=3, rank_shrinkage=5.0)
    for block_size in (None, 4):
        lazy = similarity_matrix(x, opts, residuals=res, block_size=block_size, with_rank=False)
        assert lazy.rank is None and len(lazy.freq) == lazy.sim.nnz
        np.testing.assert_array_equal(lazy.sim.toarray(), eager.sim.toarray())
        later = rank_matrix(lazy.sim, lazy.freq, 3, 5.0, block_size=block_size)
        np.testing.assert_array_equal(later.toarray(), eager.rank.toarray())
    assert eager.rank.nnz > 0


def test_predictions_alone_never_build_the_ranking_neighbourhoods(small):
    model = KNNWithMeans(k=3).fit(small)
    model.predict(small.select("user_id", "item_id"))
    assert model._rank is None
    recs = model.recommend(3)
    assert model._rank is not None and model._freq is None and recs.height > 0
