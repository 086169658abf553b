"""Split invariants: disjoint, complete, seeded; temporal test rows never earlier than train."""

import polars as pl
import pytest

from recsys_core import ConfigError, DataError
from recsys_core.data.split import kfold, random_split, temporal_split, time_cutoff_split
from tests.conftest import random_ratings

KEY = ["user_id", "item_id"]


def assert_partition(whole: pl.DataFrame, *parts: pl.DataFrame) -> None:
    joined = pl.concat(parts)
    assert joined.height == whole.height, "rows lost or duplicated"
    assert joined.sort(KEY).equals(whole.sort(KEY)), "split changed the rows"
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert parts[a].join(parts[b], on=KEY, how="inner").height == 0


def test_random_split_is_disjoint_complete_sized_and_seeded(ratings):
    split = random_split(ratings, 0.2, random_state=1)
    assert_partition(ratings, split.train, split.test)
    assert split.test.height == round(ratings.height * 0.2)
    again = random_split(ratings.sample(fraction=1, shuffle=True, seed=9), 0.2, random_state=1)
    assert again.test.equals(split.test), "depends on input row order"
    other = random_split(ratings, 0.2, random_state=2)
    assert not other.test.equals(split.test)


def test_temporal_split_last_n_per_user(ratings):
    split = temporal_split(ratings, n_test=2)
    assert_partition(ratings, split.train, split.test)
    first_test = split.test.group_by("user_id").agg(pl.col("timestamp").min().alias("t_test"))
    last_train = split.train.group_by("user_id").agg(pl.col("timestamp").max().alias("t_train"))
    both = first_test.join(last_train, on="user_id")
    assert both.height == first_test.height, "a test user has no training history"
    assert (both["t_test"] >= both["t_train"]).all()
    counts = split.test.group_by("user_id").len()["len"]
    assert (counts == 2).all()
    n_per_user = ratings.group_by("user_id").len()
    assert n_per_user.filter(pl.col("len") > 2).height == counts.len()


def test_time_cutoff_split(ratings):
    cut = int(ratings["timestamp"].median())
    split = time_cutoff_split(ratings, cutoff=cut)
    assert_partition(ratings, split.train, split.test)
    assert split.train["timestamp"].max() < cut <= split.test["timestamp"].min()
    auto = time_cutoff_split(ratings, test_fraction=0.25)
    assert abs(auto.test.height / ratings.height - 0.25) < 0.02


def test_kfold_every_row_tested_once():
    ratings = random_ratings(seed=3)
    folds = list(kfold(ratings, n_splits=4, random_state=0))
    assert_partition(ratings, *[f.test for f in folds])
    sizes = [f.test.height for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for f in folds:
        assert_partition(ratings, f.train, f.test)


def test_split_errors(ratings):
    with pytest.raises(ConfigError, match="test_fraction"):
        random_split(ratings, 1.5)
    with pytest.raises(ConfigError, match="n_splits"):
        list(kfold(ratings, n_splits=1))
    with pytest.raises(DataError, match="timestamp"):
        temporal_split(ratings.drop("timestamp"))
