"""Implicit feedback: interactions become ratings; implicit ML-100k fits and ranks."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsys_core.data.interactions import (
    IMPLICIT_THRESHOLD,
    detect_feedback,
    interactions_to_ratings,
    read_interactions,
    relevance_threshold,
    require_explicit,
)
from recsys_core.data.split import random_split
from recsys_core.errors import ConfigError, DataError
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.models.ease import EASE
from recsys_core.models.popularity import Popularity

CLICKS = pl.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 3],
        "item_id": [10, 10, 20, 10, 30, 30],
        "timestamp": [5, 9, 7, 1, 2, 3],
        "count": [1.0, 2.0, 1.0, 0.0, 4.0, 1.0],
    }
)


def test_binary_sums_duplicates_and_keeps_latest_time():
    out = interactions_to_ratings(CLICKS)
    assert out.columns == ["user_id", "item_id", "rating", "timestamp"]
    assert out.rows() == [(1, 10, 1.0, 9), (1, 20, 1.0, 7), (2, 30, 1.0, 2), (3, 30, 1.0, 3)]


def test_log_count_confidence():
    out = interactions_to_ratings(CLICKS, "log_count", alpha=2.0, eps=0.5)
    got = dict(zip(zip(out["user_id"], out["item_id"], strict=True), out["rating"], strict=True))
    assert got[(1, 10)] == pytest.approx(1 + 2.0 * math.log(1 + 3 / 0.5))  # 1 + 2 summed
    assert got[(2, 30)] == pytest.approx(1 + 2.0 * math.log(1 + 4 / 0.5))
    assert (out["rating"] >= 1).all()


def test_alpha_changes_the_output():
    a = interactions_to_ratings(CLICKS, "log_count", alpha=1.0)
    b = interactions_to_ratings(CLICKS, "log_count", alpha=3.0)
    assert not a["rating"].equals(b["rating"])


def test_without_count_or_time_each_row_counts_one():
    frame = pl.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "x", "y"]})
    out = interactions_to_ratings(frame, "log_count")
    assert out["rating"].to_list() == pytest.approx([1 + math.log(3), 1 + math.log(2)])
    assert out["timestamp"].null_count() == 2


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (CLICKS.with_columns(pl.lit(-1.0).alias("count")), DataError),
        (CLICKS.with_columns(pl.lit(None, pl.Int64).alias("item_id")), DataError),
        (CLICKS.drop("user_id"), DataError),
    ],
)
def test_bad_interactions_fail(frame, error):
    with pytest.raises(error):
        interactions_to_ratings(frame)
    with pytest.raises(ConfigError, match="signal"):
        interactions_to_ratings(CLICKS, "stars")


def test_detect_feedback_and_the_error_names_the_file():
    assert detect_feedback(["userId", "movieId", "rating", "timestamp"]) == "explicit"
    assert detect_feedback(["user_id", "item_id", "timestamp"]) == "implicit"
    assert detect_feedback(["user", "item", "plays"]) == "implicit"
    require_explicit("raw/ok.csv", ["user", "item", "Rating"])
    with pytest.raises(DataError, match=r"raw/clicks\.csv: header .* has no rating column"):
        require_explicit("raw/clicks.csv", ["user_id", "item_id", "timestamp"])
    assert relevance_threshold("implicit") == IMPLICIT_THRESHOLD == 0.0
    assert relevance_threshold("explicit", 3.5) == 3.5


def test_read_interactions_header_and_positional(tmp_path):
    a = tmp_path / "plays.csv"
    a.write_text("userId,movieId,plays,ts\n1,10,3,100\n2,007,1,200\n")
    frame = read_interactions(a)
    assert frame.columns == ["user_id", "item_id", "count", "timestamp"]
    assert frame["item_id"].to_list() == ["10", "007"]  # '007' keeps ids as strings
    assert frame["count"].to_list() == [3.0, 1.0]
    b = tmp_path / "clicks.tsv"
    b.write_text("1\t10\t100\n1\t20\t101\n")
    frame = read_interactions(b, sep="\t")
    assert frame.columns == ["user_id", "item_id", "timestamp"]
    assert frame["item_id"].dtype == pl.Int64
    c = tmp_path / "bad.csv"
    c.write_text("user,item,count\n1,2,many\n")
    with pytest.raises(DataError, match=r"bad\.csv: 1 row\(s\) with a non-numeric count"):
        read_interactions(c)


@pytest.mark.ml100k
def test_implicit_ml100k_fits_and_ranks(ml100k):
    """ML-100k with its ratings dropped (each pair one interaction): EASE beats popularity on
    NDCG@10 against the held-out interactions (every one relevant)."""
    clicks = ml100k.select("user_id", "item_id", "timestamp")
    ratings = interactions_to_ratings(clicks)
    assert ratings.height == ml100k.height and (ratings["rating"] == 1.0).all()
    split = random_split(ratings, 0.2, random_state=0)
    threshold = relevance_threshold("implicit")
    scores = {}
    for name, model in {"ease": EASE(signal="binary"), "popularity": Popularity()}.items():
        recs = model.fit(split.train).recommend(10)
        scores[name] = ranking_metrics(recs, split.test, 10, threshold)["ndcg"]
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["popularity"] > 0.10
    assert scores["ease"] > scores["popularity"] + 0.1, scores
