"""Bounded evaluation: the rating models' user sample (whole users, bounded, seeded, everything
when it fits) and the cap on the users whose lists are judged."""

import polars as pl

from recsys_core.data.split import random_split
from recsys_core.evaluation.protocol import evaluate, metric
from recsys_core.evaluation.sample import same_users, sample_users
from recsys_core.models.mf.svd import SVD
from tests.conftest import random_ratings


def test_whole_users_up_to_the_bound_and_seeded():
    ratings = random_ratings(n_users=50, n_items=40, seed=7)
    sample = sample_users(ratings, 200, random_state=3)
    assert 0 < sample.height <= 200
    users = sample["user_id"].unique()
    whole = ratings.filter(pl.col("user_id").is_in(users.implode()))
    assert sample.equals(whole), "a sampled user keeps every rating, in the original order"
    assert sample.equals(sample_users(ratings, 200, random_state=3))
    assert not sample.equals(sample_users(ratings, 200, random_state=4))


def test_everything_when_it_fits_and_one_user_at_least():
    ratings = random_ratings(n_users=20, n_items=30, seed=8)
    assert sample_users(ratings, ratings.height) is ratings
    assert sample_users(ratings, None) is ratings
    one = sample_users(ratings, 1)
    assert one["user_id"].n_unique() == 1 and one.height >= 1


def test_the_test_side_keeps_the_sampled_users_only():
    ratings = random_ratings(n_users=30, n_items=30, seed=9)
    train, test = ratings[::2], ratings[1::2]
    sample = sample_users(train, 100)
    kept = same_users(test, sample)
    assert set(kept["user_id"]) <= set(sample["user_id"])
    assert kept.height == test.filter(pl.col("user_id").is_in(sample["user_id"].implode())).height


def test_a_cap_on_judged_users_changes_only_the_ranking_side():
    split = random_split(random_ratings(n_users=40, n_items=30, seed=10), 0.3, random_state=0)
    model = SVD(n_factors=4, n_epochs=5).fit(split.train)
    full = evaluate(model, split.test, "m", 5, 4.0, train=split.train)
    judged = metric(full, "m", "users", 5)
    assert judged > 8
    same = evaluate(model, split.test, "m", 5, 4.0, train=split.train, max_users=int(judged))
    assert same.equals(full), "a cap at or above the number of users changes nothing"
    capped = evaluate(model, split.test, "m", 5, 4.0, train=split.train, max_users=8)
    assert metric(capped, "m", "users", 5) == 8
    assert metric(capped, "m", "rmse", None) == metric(full, "m", "rmse", None)
    assert capped.equals(evaluate(model, split.test, "m", 5, 4.0, train=split.train, max_users=8))
