"""The hybrid: blend fills only what is missing, cold start, exact lists, honest tuning."""

import numpy as np
import polars as pl
import pytest

from recsys_core import ConfigError
from recsys_core.ranking.blend import blend, blend_into, zscore_rows, zscore_scored
from recsys_core.ranking.hybrid import Hybrid
from recsys_core.ranking.ranker import FALLBACK, rank_block
from recsys_core.ranking.tuning import validation_split
from tests.conftest import random_ratings
from tests.contract import ModelContract

SMALL = {
    "item_knn": {"model": "KNNWithMeans", "params": {"k": 10}},
    "svd": {"model": "PureSVD", "params": {"n_factors": 4}},
}


def small(**overrides) -> Hybrid:
    return Hybrid(**{"components": SMALL, "tune": False, **overrides})


class TestHybridContract(ModelContract):
    predicts_ratings = False
    finite_scores = False  # NaN on seen items and where no component scores
    ranks_by_scores = False  # fallback fill and cold-item slots around the blend

    @staticmethod
    def make(**overrides):
        return small(**overrides)


def test_blend_fills_only_what_is_missing():
    a = np.array([[1.0, np.nan, 3.0, np.nan]])
    b = np.array([[2.0, 5.0, np.nan, np.nan]])
    out, count = blend([a, b], [1.0, 3.0])
    np.testing.assert_allclose(out[0, :3], [(1 + 6) / 4, 5.0, 3.0])
    assert np.isnan(out[0, 3]) and count.tolist() == [[2, 1, 1, 0]]
    z = zscore_rows(np.array([[1.0, 2.0, 3.0, 100.0]]), np.array([[False, False, False, True]]))
    np.testing.assert_allclose(z[0, :3], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert np.isnan(z[0, 3])


def test_unscorable_items_are_filled_from_popularity_and_labelled():
    frame = random_ratings(n_users=20, n_items=30, density=0.2, seed=5)
    model = Hybrid(components={"knn": {"model": "KNNBasic", "params": {"k": 2}}}, tune=False)
    recs = model.fit(frame).recommend_explained(25)
    assert set(recs["source"]) <= {"knn", "popularity"}
    filled = recs.filter(pl.col("source") == "popularity")
    assert filled.height > 0, "expected some items KNN cannot score"
    first_fill = filled.group_by("user_id").agg(pl.col("rank").min().alias("r"))
    last_knn = (
        recs.filter(pl.col("source") == "knn")
        .group_by("user_id")
        .agg(pl.col("rank").max().alias("k"))
    )
    both = first_fill.join(last_knn, on="user_id")
    assert (both["r"] > both["k"]).all(), "fallback rows must come after the blended ones"
    assert filled["explanation"].list.len().max() == 0


def test_cold_start_users_get_the_popularity_list():
    frame = random_ratings(n_users=20, n_items=30, density=0.3, seed=6)
    newcomer = pl.DataFrame({"user_id": [999], "item_id": [101], "rating": [4.0], "timestamp": [1]})
    model = small(cold_user_ratings=3).fit(pl.concat([frame, newcomer]))
    recs = model.recommend_explained(5, users=[999])
    assert (recs["source"] == "popularity").all()
    popular = model.fallback_.recommend(5, users=[999])
    assert recs["item_id"].to_list() == popular["item_id"].to_list()


def test_a_brand_new_item_with_a_handful_of_ratings_can_appear():
    frame = random_ratings(n_users=40, n_items=30, density=0.5, seed=7)
    new_item = pl.DataFrame(
        {"user_id": [1, 2, 3], "item_id": [5000] * 3, "rating": [5.0] * 3, "timestamp": [9] * 3}
    )
    data = pl.concat([frame, new_item])
    with_slot = small(cold_item_ratings=5, cold_item_slots=1).fit(data).recommend(5)
    without = small(cold_item_slots=0).fit(data).recommend(5)
    assert (
        with_slot.filter(pl.col("item_id") == 5000).height
        > without.filter(pl.col("item_id") == 5000).height
    )
    assert with_slot.filter(pl.col("item_id") == 5000).height >= 30


def test_exactly_n_distinct_unseen_items_per_user():
    frame = random_ratings(n_users=25, n_items=40, density=0.3, seed=8)
    recs = small().fit(frame).recommend_explained(10)
    per_user = recs.group_by("user_id").agg(pl.len(), pl.col("item_id").n_unique().alias("d"))
    assert per_user.height == frame["user_id"].n_unique()
    assert (per_user["len"] == 10).all() and (per_user["d"] == 10).all()
    assert recs.join(frame, on=["user_id", "item_id"], how="semi").height == 0


def test_tuning_splits_only_the_training_ratings_disjointly_and_completely():
    frame = random_ratings(n_users=40, n_items=50, density=0.3, seed=9)
    inner = validation_split(frame, 0.2, random_state=0)
    key = ["user_id", "item_id"]
    assert inner.train.join(inner.test, on=key, how="semi").height == 0
    assert pl.concat([inner.train, inner.test]).sort(key).equals(frame.sort(key))
    assert 0.15 < inner.test.height / frame.height < 0.25
    other = validation_split(frame, 0.2, random_state=1)
    assert not other.test.sort(key).equals(inner.test.sort(key)), "random_state is ignored"
    # what tuning chooses from these is tested in tests/test_ranking_tuning.py


def test_bad_component_names_the_closest_model():
    with pytest.raises(ConfigError, match="did you mean 'KNNWithMeans'"):
        Hybrid(components={"x": {"model": "KNNWithMean"}})
    with pytest.raises(ConfigError, match=r"unknown key 'weights\.nope' in Hybrid"):
        Hybrid(weights={"nope": 1.0})


def test_zscore_rows_is_the_nan_function_formula_bit_for_bit():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((30, 500)) * 4 + 2
    scores[rng.random(scores.shape) < 0.2] = np.nan
    scores[rng.random(scores.shape) < 0.1] = -np.inf
    scores[0], scores[1] = np.nan, 7.0  # nothing scored; std 0
    seen = rng.random(scores.shape) < 0.3
    z = np.where(seen | ~np.isfinite(scores), np.nan, scores)
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        std = np.nanstd(z, axis=1, keepdims=True)
        want = (z - np.nanmean(z, axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    np.testing.assert_array_equal(zscore_rows(scores, seen), want)


@pytest.mark.parametrize("weights", [[1.0, 1.0, 1.0], [0.5, 0.0, 2.0], [0.0, 0.0, 0.0]])
def test_streamed_blend_of_zeroed_scores_equals_blend(weights):
    rng = np.random.default_rng(4)
    raw = [rng.standard_normal((8, 300)) for _ in weights]
    for s in raw:
        s[rng.random(s.shape) < 0.3] = np.nan
    raw[1][2] = np.nan  # a row one component cannot score at all
    seen = rng.random((8, 300)) < 0.3
    want, _ = blend([zscore_rows(s, seen) for s in raw], weights)
    got = blend_into((zscore_scored(s, seen) for s in raw), weights, seen.shape)
    np.testing.assert_array_equal(got, want)


def oracle_lists(blended, source_of, fallback, seen, cold_users, cold_items, n, slots):
    """The ranker's documented rule, one user and one item at a time."""

    def best(row, items, values, k):
        cands = sorted((-values[row, i], i) for i in items if np.isfinite(values[row, i]))
        return [(i, -neg) for neg, i in cands[:k]]

    out = []
    for u in range(blended.shape[0]):
        unseen = [i for i in range(blended.shape[1]) if not seen[u, i]]
        warm, cold = [], []
        if not cold_users[u]:
            k_cold = min(slots, n) if cold_items.any() else 0
            cold = best(u, [i for i in unseen if cold_items[i]], blended, k_cold)
            pool = [i for i in unseen if not (k_cold and cold_items[i])]  # no slots: all compete
            warm = best(u, pool, blended, n - len(cold))
        taken = {i for i, _ in warm + cold}
        fill = best(u, [i for i in unseen if i not in taken], fallback, n - len(warm) - len(cold))
        rows = [(i, v, source_of[u, i]) for i, v in warm + cold] + [
            (i, v, FALLBACK) for i, v in fill
        ]
        cap = np.inf
        for rank, (i, v, src) in enumerate(rows, start=1):
            cap = min(cap, v)
            out.append((u, rank, i, cap, src))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("slots", [0, 1, 3])
def test_rank_block_equals_oracle(seed, slots):
    rng = np.random.default_rng(seed)
    b, m, n = 12, 40, 6
    blended = rng.integers(-2, 3, (b, m)).astype(float)  # many ties
    blended[rng.random((b, m)) < 0.4] = np.nan  # no component scored it
    blended[rng.random((b, m)) < 0.05] = -np.inf
    fallback = np.broadcast_to(rng.integers(0, 4, m).astype(float), (b, m))  # read-only view
    seen = rng.random((b, m)) < 0.4
    seen[0] = True
    seen[1, :-3] = True
    cold_users = rng.random(b) < 0.2
    cold_items = rng.random(m) < 0.2
    source_of = rng.integers(0, 3, (b, m))
    args = (fallback, seen, cold_users, cold_items, n, slots)
    want = oracle_lists(blended, source_of, *args)
    before = blended.copy()
    for source in (source_of, lambda r, c: source_of[r, c]):
        got = rank_block(blended, source, *args)
        rows = zip(got.rows, got.ranks, got.items, got.scores, got.source, strict=True)
        assert [tuple(x.item() for x in row) for row in rows] == want
    np.testing.assert_array_equal(blended, before)


# -- one unit, sources, exclusions, explanations ------------------------------------------------

TWO = {  # neither can score an item without rated neighbours: the fallback fills those
    "knn": {"model": "KNNBasic", "params": {"k": 2}},
    "means": {"model": "KNNWithMeans", "params": {"k": 3, "sim_options": {"name": "cosine"}}},
}


@pytest.fixture(scope="module")
def mixed():
    """A hybrid whose lists hold component rows, fallback fills and cold-user rows."""
    frame = random_ratings(n_users=40, n_items=60, density=0.12, seed=21)
    model = Hybrid(
        components=TWO, weights={"knn": 0.3, "means": 0.7}, tune=False, cold_user_ratings=6
    ).fit(frame)
    recs = model.recommend_explained(15)
    return model, recs


def expected_scores(model: Hybrid, recs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the weighted z-score of each component (NaN: not scored) and the fallback's
    z-score over the user's candidates, recomputed from the models."""
    users = model.data.users.index_of(recs["user_id"])
    items = model.data.items.index_of(recs["item_id"])
    every = np.arange(model.data.n_users)
    seen = model.unavailable(every)
    weights = model.chosen_["weights"]
    wz = np.stack(
        [
            weights[name] * zscore_rows(c.score_users(every), seen)[users, items]
            for name, c in model.components_.items()
        ]
    )
    fz = zscore_rows(model.fallback_.score_users(every), seen)[users, items]
    return wz, fz


def test_every_source_is_in_one_unit(mixed):
    model, recs = mixed
    sources = set(recs["source"])
    assert sources == {"knn", "means", "popularity"}
    cold = model.user_counts_ < 6
    cold_users = set(model.data.users.raw(np.flatnonzero(cold)).to_list())
    assert cold_users and cold_users < set(recs["user_id"])
    fills = recs.filter(
        (pl.col("source") == "popularity") & ~pl.col("user_id").is_in(list(cold_users))
    )
    assert fills.height > 0, "expected fill rows after the component rows"
    wz, fz = expected_scores(model, recs)
    ok = np.isfinite(wz)
    with np.errstate(invalid="ignore"):  # 0 / 0 on the fallback's rows
        blended = np.where(ok, wz, 0).sum(0) / np.where(ok, [[0.3], [0.7]], 0).sum(0)
    raw = np.where(recs["source"].to_numpy() == "popularity", fz, blended)
    capped = (
        recs.with_columns(pl.Series("raw", raw))
        .with_columns(pl.col("raw").cum_min().over("user_id").alias("capped"))
        .get_column("capped")
    )
    np.testing.assert_allclose(recs["score"].to_numpy(), capped.to_numpy(), rtol=1e-6)
    # no raw counts: popularity's own scores are ratings counts, far outside a z-score's range
    assert recs["score"].abs().max() < 10
    assert (recs.group_by("user_id").agg(pl.col("score").diff().max())["score"] <= 0).all()


@pytest.mark.parametrize("weight", [1.0, 0.7])
def test_one_weighted_component_is_the_blend_without_its_sums(mixed, weight):
    model, _ = mixed
    chosen = {**model.chosen_, "weights": {"knn": 0.0, "means": weight}, "cold_item_slots": 0}
    users = np.arange(model.data.n_users)
    seen = model.unavailable(users)
    single = model._single(users, seen, 1, weight)
    np.testing.assert_array_equal(single, model._blended(users, seen, chosen))  # same bits
    lists = model.lists_block(users, 15, chosen)
    comp = lists.source != FALLBACK
    assert comp.sum() > 100 and set(lists.source[comp].tolist()) == {1}  # "means" is index 1
    z = zscore_rows(model.components_["means"].score_users(users), seen)
    warm = np.flatnonzero(model.user_counts_ >= model.chosen_["cold_user_ratings"])
    for r in warm[:10]:  # a warm user's component rows: the best unseen items by z, ties by id
        mine = comp & (lists.rows == r)
        finite = np.flatnonzero(np.isfinite(z[r]))
        best = finite[np.lexsort((finite, -z[r, finite]))][: mine.sum()]
        np.testing.assert_array_equal(np.sort(lists.items[mine]), np.sort(best))


def test_blocks_ranked_on_threads_give_the_same_lists(mixed):
    model, recs = mixed
    for threads, block_size in ((2, 3), (3, 7), (1, 5)):
        got = model.recommend_explained(15, block_size=block_size, threads=threads)
        assert got.equals(recs)


def test_source_names_the_largest_weighted_z_score(mixed):
    model, recs = mixed
    wz, _ = expected_scores(model, recs)
    names = np.array(list(model.components_))
    top = names[np.argmax(np.where(np.isfinite(wz), wz, -np.inf), axis=0)]
    comp = recs["source"].to_numpy() != "popularity"
    assert comp.sum() > 100
    np.testing.assert_array_equal(recs["source"].to_numpy()[comp], top[comp])
    assert set(recs["source"].to_numpy()[comp]) == {"knn", "means"}  # both lead somewhere


def test_the_exclusion_hook_removes_items_like_seen_ones(mixed):
    model, recs = mixed
    popular = model.fallback_.recommend(5, users=recs["user_id"].unique()).get_column("item_id")
    banned = model.data.items.index_of(popular.unique())
    calls = []

    def exclude(users: np.ndarray) -> np.ndarray:
        calls.append(len(users))
        mask = np.zeros((len(users), model.data.n_items), dtype=bool)
        mask[(users % 2 == 0)[:, None] & np.isin(np.arange(model.data.n_items), banned)] = True
        return mask

    ruled = Hybrid.assemble(
        model.components_,
        model.fallback_,
        model.chosen_,
        exclude=exclude,
        **model.params.model_dump(),
    )
    out = ruled.recommend_explained(15)
    assert calls
    even = out.filter(pl.col("user_id").is_in(model.data.users.raw(np.arange(0, 40, 2)).to_list()))
    bad = even.filter(pl.col("item_id").is_in(model.data.items.raw(banned).to_list()))
    assert bad.height == 0
    assert recs.filter(pl.col("item_id").is_in(model.data.items.raw(banned).to_list())).height
    per_user = out.group_by("user_id").agg(pl.len())
    assert (per_user["len"] == 15).all() and per_user.height == recs["user_id"].n_unique()
    same = out.filter(~pl.col("user_id").is_in(even["user_id"].unique().to_list()))
    odd = recs.filter(~pl.col("user_id").is_in(even["user_id"].unique().to_list()))
    assert same.select("user_id", "rank", "item_id").equals(
        odd.select("user_id", "rank", "item_id")
    )
    ruled.exclude = lambda users: np.zeros((len(users), 3), dtype=bool)
    with pytest.raises(ConfigError, match="exclude"):
        ruled.recommend(5)


def test_lists_are_explained_by_ease_without_item_knn():
    frame = random_ratings(n_users=40, n_items=50, density=0.3, seed=22)
    components = {
        "ease": {"model": "EASE", "params": {"reg": 10.0}},
        "svd": {"model": "PureSVD", "params": {"n_factors": 3}},
    }
    model = Hybrid(components=components, tune=False, cold_user_ratings=0).fit(frame)
    recs = model.recommend_explained(5)
    want = model.components_["ease"].explain(recs.select("user_id", "rank", "item_id", "score"))
    assert recs["explanation"].to_list() == want["because"].to_list()
    assert recs["explanation"].list.len().min() > 0
