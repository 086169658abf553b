"""Neighbourhood gathering: both walks (ratings, stored similarities) against a brute force, and
``KNNBase.with_ratings`` against a model rebuilt by raw id."""

from __future__ import annotations

from functools import partial, partialmethod

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_core.models.knn import (
    KNNBaseline,
    KNNBasic,
    KNNWithMeans,
    neighbors,
    padded,
    predictors,
)
from recsys_core.models.knn.neighbors import neighborhood_sums, pair_chunks, top_k_mask
from tests.conftest import random_ratings

ROUTES = ("auto", "ratings", "similarities")


def random_problem(seed: int, sorted_sim: bool):
    """A sparse similarity (some rows empty, some negative values, diagonal 1) and ratings."""
    rng = np.random.default_rng(seed)
    n_x, n_y = 23, 17
    sim = sp.random(n_x, n_x, density=0.3, random_state=rng, format="csr")
    sim.data = rng.uniform(-0.3, 1.0, sim.nnz)
    sim.data[rng.random(sim.nnz) < 0.1] = 0.5  # ties
    sim = (sim + sp.eye(n_x, format="csr")).tocsr()
    sim.data[sim.indptr[3] : sim.indptr[4]] = 0.0  # a row with nothing stored
    sim.eliminate_zeros()
    sim.sort_indices()
    if not sorted_sim:  # reverse each row's order, as a sparse product may leave it
        order = np.concatenate(
            [np.arange(a, b)[::-1] for a, b in zip(sim.indptr[:-1], sim.indptr[1:], strict=True)]
        )
        sim = sp.csr_matrix((sim.data[order], sim.indices[order], sim.indptr), shape=sim.shape)
        assert not sim.has_sorted_indices
    yx = sp.random(n_y, n_x, density=0.4, random_state=rng, format="csr")
    yx.data = rng.integers(1, 6, yx.nnz).astype(float)
    yx.sort_indices()
    x = rng.integers(0, n_x, 200)
    y = rng.integers(0, n_y, 200)
    return sim, yx, x, y


def brute_force(sim, yx, x, y, positive=True):
    """Per pair: [(x', r_x'y, sim(x, x'))] over the x' rated by y, ascending x'."""
    dense_sim, out = sim.toarray(), []
    for a, b in zip(x, y, strict=True):
        row = yx.getrow(b)
        entries = [
            (int(c), float(r), float(dense_sim[a, c]))
            for c, r in sorted(zip(row.indices, row.data, strict=True))
        ]
        out.append([e for e in entries if e[2] > 0 or not positive])
    return out


def gathered(chunks, n_pairs):
    out = [[] for _ in range(n_pairs)]
    for ent in chunks:
        for s, c, v, w in zip(ent.seg, ent.cols, ent.values, ent.sims, strict=True):
            out[ent.pairs[s]].append((int(c), float(v), float(w)))
    return out


@pytest.mark.parametrize("sorted_sim", [True, False])
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("budgets", [None, (7, 5, 40)])
@pytest.mark.parametrize("slack", [0.0, np.inf])  # ragged rows, padded rows
def test_every_walk_gathers_the_brute_force_entries(monkeypatch, sorted_sim, route, budgets, slack):
    monkeypatch.setattr(neighbors, "_padded_rows", partial(neighbors._padded_rows, slack=slack))
    if budgets:  # tiny chunks: many chunks, one row at a time
        for name, value in zip(
            ("DENSE_BUDGET", "LOOKUP_BUDGET", "ENTRY_BUDGET"), budgets, strict=True
        ):
            monkeypatch.setattr(neighbors, name, value)
    sim, yx, x, y = random_problem(0, sorted_sim)
    got = gathered(pair_chunks(sim, yx, x, y, route=route), len(x))
    assert got == brute_force(sim, yx, x, y)
    assert sum(map(len, got)) > 100


def test_auto_walks_both_ways_on_mixed_rows():
    sim, yx, x, y = random_problem(1, True)
    counts = np.diff(sim.indptr)[x] < np.diff(yx.indptr)[y]
    assert counts.any() and not counts.all()  # the test data exercise both walks


def test_non_positive_candidates_only_come_from_the_ratings_walk():
    sim, yx, x, y = random_problem(2, True)
    got = gathered(pair_chunks(sim, yx, x, y, positive=False), len(x))
    assert got == brute_force(sim, yx, x, y, positive=False)
    with pytest.raises(ValueError, match="non-stored"):
        next(pair_chunks(sim, yx, x, y, positive=False, route="similarities"))


@pytest.mark.parametrize("cls", [KNNBasic, KNNWithMeans, KNNBaseline])
@pytest.mark.parametrize("user_based", [False, True])
@pytest.mark.parametrize("max_neighbors", [None, 3, 12])
def test_predictions_do_not_depend_on_the_walk(monkeypatch, cls, user_based, max_neighbors):
    data = random_ratings(n_users=40, n_items=30, density=0.35, seed=4)
    opts = {"name": "pearson_baseline", "user_based": user_based, "shrinkage": 10}
    model = cls(k=4, sim_options=opts, max_neighbors=max_neighbors).fit(data)
    pairs = data.select("user_id").unique().join(data.select("item_id").unique(), how="cross")
    results = []
    for route in ROUTES:
        walk = partialmethod(predictors.KNNBase._neighborhood_sums, route=route)
        monkeypatch.setattr(predictors.KNNBase, "_neighborhood_sums", walk)
        results.append(model.predict_details(pairs))
    assert results[0].equals(results[1]) and results[0].equals(results[2])
    assert results[0]["fallback"].mean() < 0.5


@pytest.mark.parametrize("user_based", [False, True])
def test_an_estimate_does_not_depend_on_the_other_pairs(monkeypatch, user_based):
    data = random_ratings(n_users=50, n_items=40, density=0.4, seed=2)
    model = KNNWithMeans(k=6, sim_options={"name": "msd", "user_based": user_based}).fit(data)
    pairs = data.select("user_id").unique().join(data.select("item_id").unique(), how="cross")
    monkeypatch.setattr(padded, "CELL_BUDGET", 64)  # many groups of different widths
    whole = model.predict(pairs)
    order = np.random.default_rng(0).permutation(pairs.height)
    for part in np.array_split(order, 7):  # other neighbours in every block: other paddings
        np.testing.assert_array_equal(model.predict(pairs[part]), whole[part])


def test_a_pruned_similarity_walks_its_rows():
    data = random_ratings(n_users=60, n_items=50, density=0.5, seed=3)
    model = KNNWithMeans(k=3, max_neighbors=2).fit(data)
    pairs = data.select("user_id").unique().join(data.select("item_id").unique(), how="cross")
    u, i = model.data.index_pairs(pairs)
    walked = []
    real = neighbors.pair_chunks

    def spy(*args, **kwargs):
        walked.append(len(args[2]))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictors, "pair_chunks", spy)
        model._neighborhood_sums(i, u)
    assert walked == [len(pairs)]  # rows of <= 3 stored similarities against ~25 ratings


def padded_problem(seed: int):
    """Non-negative similarities (zeros = not stored, many ties), ratings, deviations, pairs."""
    sim, yx, x, y = random_problem(seed, True)
    sim.data = np.round(np.abs(sim.data) * 4) / 4  # ties at 0.25 steps, some zeros
    sim.eliminate_zeros()
    dev = np.random.default_rng(seed).normal(size=yx.nnz)
    return sim, yx, dev, x, y


@pytest.mark.parametrize("k", [1, 2, 4, 40])  # 40: no row is longer than k
@pytest.mark.parametrize("budgets", [None, (30, 16, 2.0)])
def test_padded_sums_equal_a_brute_force(monkeypatch, k, budgets):
    if budgets:  # a few dense rows and a few cells at a time: many chunks and groups
        for name, value in zip(("DENSE_BUDGET", "CELL_BUDGET", "GROWTH"), budgets, strict=True):
            monkeypatch.setattr(padded, name, value)
    sim, yx, dev, x, y = padded_problem(k)
    sum_sim, sum_dev, count = padded.padded_sums(sim, yx, dev, x, y, k)
    dense = sim.toarray()
    for p in range(len(x)):
        start, stop = yx.indptr[y[p]], yx.indptr[y[p] + 1]
        cols, d = yx.indices[start:stop], dev[start:stop]
        s = dense[x[p], cols]
        pos = np.flatnonzero(s > 0)
        top = pos[np.lexsort((pos, -s[pos]))][:k]  # largest first, ties: smaller x'
        assert count[p] == len(top)
        np.testing.assert_allclose(sum_sim[p], s[top].sum(), rtol=1e-12)
        np.testing.assert_allclose(sum_dev[p], (s[top] * d[top]).sum(), rtol=1e-12, atol=1e-12)
    assert (count < k).any() and ((count == k).any() or k == 40)


# -- with_ratings ------------------------------------------------------------------------------
def rebuilt(model, ratings: pl.DataFrame):
    """Oracle: a model fitted on ``ratings`` whose similarities are replaced, entry by entry
    looked up by raw id in ``model``'s dense matrices (diagonal 1, unknown ids: no entries)."""
    out = type(model)(**model.params.__dict__).fit(ratings)
    user_based = model.params.sim_options.user_based
    old_ids = (model.data.users if user_based else model.data.items).ids.to_list()
    new_ids = (out.data.users if user_based else out.data.items).ids.to_list()
    where = {raw: n for n, raw in enumerate(old_ids)}
    for name in ("sim", "rank"):
        old = getattr(model, f"{name}_").toarray()
        dense = np.zeros((len(new_ids), len(new_ids)))
        for a, ra in enumerate(new_ids):
            for b, rb in enumerate(new_ids):
                if ra in where and rb in where and a != b:
                    dense[a, b] = old[where[ra], where[rb]]
        if name == "sim":
            np.fill_diagonal(dense, 1.0)
        setattr(out, f"{name}_", sp.csr_matrix(dense))
    out.cache_ = {}
    return out


@pytest.mark.parametrize("cls", [KNNWithMeans, KNNBaseline])
@pytest.mark.parametrize("user_based", [False, True])
def test_with_ratings_equals_the_rebuilt_oracle(cls, user_based):
    full = random_ratings(n_users=40, n_items=30, density=0.35, seed=8)
    rng = np.random.default_rng(1)
    part = full.filter(pl.Series(rng.random(full.height) < 0.7))
    part = part.filter(pl.col("item_id") != part["item_id"].min())  # an item only in `full`
    opts = {"name": "pearson_baseline", "user_based": user_based}
    model = cls(k=5, sim_options=opts, max_neighbors=6).fit(part)
    moved = model.with_ratings(full)
    oracle = rebuilt(model, full)
    pairs = full.select("user_id").unique().join(full.select("item_id").unique(), how="cross")
    np.testing.assert_allclose(moved.predict(pairs), oracle.predict(pairs), rtol=1e-12)
    np.testing.assert_array_equal(moved.sim_.toarray(), oracle.sim_.toarray())
    np.testing.assert_array_equal(moved.rank_.toarray(), oracle.rank_.toarray())
    assert moved.recommend(5).equals(oracle.recommend(5))
    assert moved.data.user_items.nnz == full.height and model.data.user_items.nnz == part.height
    assert moved.sim_.has_sorted_indices


def test_with_ratings_on_the_same_ratings_changes_nothing():
    data = random_ratings(n_users=40, n_items=30, density=0.35, seed=9)
    model = KNNBaseline(sim_options={"name": "msd", "user_based": True}).fit(data)
    moved = model.with_ratings(data)
    pairs = data.select("user_id").unique().join(data.select("item_id").unique(), how="cross")
    np.testing.assert_array_equal(moved.predict(pairs), model.predict(pairs))
    np.testing.assert_array_equal(moved.sim_.toarray(), model.sim_.toarray())
    assert moved.recommend(5).equals(model.recommend(5))


@pytest.mark.parametrize("k", [1, 3, 8])
def test_neighborhood_sums_equal_a_brute_force(k):
    rng = np.random.default_rng(k)
    counts = rng.integers(0, 15, 300)
    seg = np.repeat(np.arange(len(counts)), counts)
    sims = rng.choice([0.2, 0.5, 0.5, 0.7, 1.0], len(seg)) * rng.choice([1.0, 0.9], len(seg))
    dev = rng.normal(size=len(seg))
    sum_sim, sum_dev, used = neighborhood_sums(seg, sims, dev, len(counts), k)
    for s in range(len(counts)):
        pos = np.flatnonzero(seg == s)
        top = pos[np.lexsort((pos, -sims[pos]))][:k]  # largest first, ties: earlier entry
        assert used[s] == len(top)
        np.testing.assert_allclose(sum_sim[s], sims[top].sum(), rtol=1e-12)
        np.testing.assert_allclose(sum_dev[s], (sims[top] * dev[top]).sum(), rtol=1e-12)
        mask = top_k_mask(seg, sims, len(counts), k)
        np.testing.assert_array_equal(np.flatnonzero(mask & (seg == s)), np.sort(top))
