"""Fresh lists between nights (:mod:`recsys_core.ranking.refresh`) against brute-force oracles:
the fold-in scores of EASE and iALS, the day's merge rule, who is touched, that only their rows
change, and the default list."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recsys_core import EASE, IALS, Hybrid
from recsys_core.data.ids import IdIndex
from recsys_core.errors import DataError
from recsys_core.models.signal import signal_matrix
from recsys_core.publish.table import published_table
from recsys_core.ranking.refresh import (
    FoldIn,
    day_schema,
    default_list,
    fold_in_plan,
    merge_day,
    rated_pairs,
    refreshed_lists,
    replace_users,
    typed_like,
)
from tests.conftest import random_ratings

SCHEMA = day_schema({"user_id": "Int64", "item_id": "Int64"})
WHEN = datetime(2026, 12, 1, 12, tzinfo=UTC)


def day(rows: list[tuple]) -> pl.DataFrame:
    """A day's ratings frame from ``(user, item, rating, timestamp)`` tuples."""
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


@pytest.fixture(scope="module")
def night() -> tuple[pl.DataFrame, Hybrid]:
    ratings = random_ratings(n_users=30, n_items=40, density=0.3, seed=4)
    hybrid = Hybrid(
        components={"ease": {"model": "EASE", "params": {"reg": 20.0}},
                    "ials": {"model": "IALS", "params": {"n_factors": 6, "n_epochs": 4}}},
        tune=False, cold_user_ratings=3,
    ).fit(ratings)  # fmt: skip
    return ratings, hybrid


def test_ease_fold_in_is_the_closed_form_on_new_rows():
    ratings = random_ratings(n_users=25, n_items=20, seed=1)
    model = EASE(reg=10.0).fit(ratings)
    x = signal_matrix(model.data.user_items, "graded", low=0.5).toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 10.0 * np.eye(20))
    b = np.eye(20) - p / np.diag(p)[None, :]  # B = I - P diag(1/diag P), zero diagonal
    rows = sp.csr_matrix(np.where(np.random.default_rng(0).random((3, 20)) < 0.3, 4.0, 0.0))
    folded = model.for_users(IdIndex(pl.Series("id", [900, 901, 902])), rows)
    want = signal_matrix(rows, "graded", low=0.5).toarray() @ b
    np.testing.assert_allclose(folded.score_users(np.arange(3)), want, rtol=2e-3, atol=2e-4)


def test_ials_fold_in_scores_are_recalculate_user_factors_times_the_item_factors():
    ratings = random_ratings(n_users=25, n_items=20, seed=1)
    model = IALS(n_factors=5, reg=2.0, alpha=4.0, n_epochs=3, n_threads=1).fit(ratings)
    rows = model.data.user_items[[2, 7]].tolil()
    rows[0, 0] = 5.0  # an existing user with one more rating, and the same row for a new id
    folded = model.for_users(IdIndex(pl.Series("id", [2, 999])), rows.tocsr())
    theirs = AlternatingLeastSquares(factors=5, regularization=2.0, alpha=4.0, dtype=np.float32)
    theirs.item_factors = model.item_factors_.copy()
    weights = signal_matrix(rows.tocsr(), "graded", low=0.25)
    with threadpool_limits(limits=1, user_api="blas"):
        factors = theirs.recalculate_user(np.arange(2), weights)
    want = factors.astype(np.float64) @ model.item_factors_.T.astype(np.float64)
    np.testing.assert_allclose(folded.score_users(np.arange(2)), want, rtol=1e-5, atol=1e-7)


def test_merge_day_keeps_the_later_timestamp_a_dated_rating_and_ties_to_the_new_file():
    earlier = day([(1, 10, 3.0, 100), (1, 11, 2.0, 100), (2, 10, 4.0, None), (3, 12, 1.0, 50)])
    new = day([(1, 10, 5.0, 90), (1, 11, 1.0, 100), (2, 10, 2.0, 10), (3, 12, 1.0, 60),
               (4, 10, 3.0, 1)])  # fmt: skip
    merged, changes = merge_day(earlier, new)
    assert merged.rows() == [
        (1, 10, 3.0, 100),  # an older rating loses
        (1, 11, 1.0, 100),  # a tie goes to the new file
        (2, 10, 2.0, 10),  # a dated rating beats an undated one
        (3, 12, 1.0, 60),  # same value, later: no change to anyone's ratings
        (4, 10, 3.0, 1),
    ]
    assert changes.select("user_id", "item_id", "was", "first").rows() == [
        (1, 11, 2.0, False),
        (2, 10, 4.0, False),
        (4, 10, None, True),
    ]
    with pytest.raises(DataError, match="typed"):
        merge_day(earlier, new.cast({"user_id": pl.String}))


def test_touched_users_are_those_whose_ratings_of_known_items_changed_and_first_comers(night):
    ratings, hybrid = night
    data = hybrid.data
    u1, u2, u3 = 1, 2, 3
    known = ratings.filter(pl.col("user_id") == u1).row(0)  # (user, item, rating, ts)
    absent = next(i for i in range(101, 141) if ratings.filter(
        (pl.col("user_id") == u2) & (pl.col("item_id") == i)).height == 0)  # fmt: skip
    new = day([
        known,  # a re-read night rating: same value, nobody touched
        (u2, absent, 5.0, 3_000_000),  # a new rating of a known item: touched
        (u3, 9_999, 5.0, 3_000_000),  # an existing user rating an unknown item: not touched
        (500, 9_998, 4.0, 3_000_000),  # a new user rating only unknown items: touched (a list)
        (501, 101, 4.0, 3_000_000), (501, 102, 5.0, 3_000_000),  # a new user
    ])  # fmt: skip
    merged, changes = merge_day(day([]), new)
    fold = fold_in_plan(data, merged, changes)
    assert fold.users.ids.to_list() == [u2, 500, 501] and fold.new_users == 2
    row = fold.user_items[0].toarray()[0]
    night_row = data.user_items[data.users.index_of([u2])[0]].toarray()[0]
    j = data.items.index_of([absent])[0]
    np.testing.assert_array_equal(np.delete(row, j), np.delete(night_row, j))
    assert row[j] == 5.0 and night_row[j] == 0
    assert fold.user_items[1].nnz == 0  # unknown items are not columns of the night's models
    assert fold.user_items[2].toarray()[0][data.items.index_of([101, 102])].tolist() == [4.0, 5.0]
    again, changes = merge_day(merged, day([(500, 101, 2.0, 3_000_001)]))
    assert fold_in_plan(data, again, changes).users.ids.to_list() == [500]  # a known item now
    _, changes = merge_day(merged, day([(500, 9_997, 2.0, 3_000_001)]))
    assert len(fold_in_plan(data, again, changes)) == 0, "not the first time any more"


def test_refreshed_rows_replace_only_the_touched_users_and_never_show_rated_items(night):
    ratings, hybrid = night
    data = hybrid.data
    nightly = published_table(hybrid.recommend_explained(5), "night", WHEN)
    new = day([(2, 101, 5.0, 3_000_000), (2, 140, 1.0, 3_000_000)]
              + [(777, i, 4.0, 3_000_000) for i in range(101, 121)])  # fmt: skip
    merged, changes = merge_day(day([]), new)
    fold = fold_in_plan(data, merged, changes)
    lists = refreshed_lists(hybrid, fold, 5)
    table = replace_users(nightly, fold.users.ids, lists, "refresh", WHEN, "night")
    others = ~pl.col("user_id").is_in([2, 777])
    assert table.filter(others).equals(nightly.filter(others)), "an untouched row changed"
    fresh = table.filter(~others)
    assert fresh.group_by("user_id").len().sort("user_id").rows() == [(2, 5), (777, 5)]
    assert set(fresh["run_id"]) == {"refresh"} and set(table["model_run_id"]) == {"night"}
    rated = rated_pairs(data, merged)
    assert fresh.join(rated, on=["user_id", "item_id"], how="semi").height == 0
    assert rated.height == ratings.height + new.height - ratings.join(
        new, on=["user_id", "item_id"], how="semi").height  # fmt: skip
    # the fold-in of an unchanged row for EASE alone is the night's list, bit for bit
    ease = Hybrid.assemble({"ease": hybrid.components_["ease"]}, hybrid.fallback_,
                           {**hybrid.chosen_, "weights": {"ease": 1.0}})  # fmt: skip
    same = FoldIn(IdIndex(pl.Series("id", [1, 5])), data.user_items[data.users.index_of([1, 5])], 0)
    want = ease.recommend_explained(5, users=[1, 5])
    assert refreshed_lists(ease, same, 5).equals(want)


def test_default_list_is_the_fallbacks_top_n_in_z_score_units(night):
    ratings, hybrid = night
    counts = ratings.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    c = counts["len"].cast(pl.Float64).to_numpy()
    all_counts = np.bincount(hybrid.data.user_items.indices, minlength=hybrid.data.n_items)
    z = (c - all_counts.mean()) / all_counts.std()
    listed = default_list(hybrid, 7)
    assert listed["item_id"].to_list() == counts["item_id"].head(7).to_list()
    np.testing.assert_allclose(listed["score"].to_numpy(), z[:7], rtol=1e-12)
    assert listed["rank"].to_list() == list(range(1, 8)) and set(listed["source"]) == {"popularity"}


def test_new_ids_take_the_nights_type_or_are_refused():
    new = pl.DataFrame({"user_id": [7], "item_id": [5], "rating": [4.0], "timestamp": [1]})
    strings = day_schema({"user_id": "String", "item_id": "String"})
    assert typed_like(new, strings).rows() == [("7", "5", 4.0, 1)]
    odd = new.cast({"user_id": pl.String}).with_columns(pl.lit("u7").alias("user_id"))
    with pytest.raises(DataError, match="user_id is String"):
        typed_like(odd, SCHEMA)
