"""Implicit feedback: interactions become ratings; implicit ML-100k fits and ranks."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsys_core.data.ids import RatingData
from recsys_core.data.interactions import (
    IMPLICIT_THRESHOLD,
    detect_feedback,
    interactions_to_ratings,
    read_interactions,
    relevance_threshold,
    require_explicit,
)
from recsys_core.data.readers import Reader, read_ratings
from recsys_core.data.split import random_split
from recsys_core.data.validate import ingest
from recsys_core.errors import ConfigError, DataError
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.models.ease import EASE
from recsys_core.models.popularity import Popularity
from recsys_core.models.signal import signal_matrix
from recsys_core.settings import resolve

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


def test_interaction_files_through_the_readers_keep_quarantine_and_sum_pairs(tmp_path):
    """No header: user, item, timestamp, count by position; a bad count is quarantined with
    its reason, a pair's counts are summed and its latest time kept."""
    path = tmp_path / "plays.tsv"
    path.write_text("1\t10\t100\t2\n1\t10\t300\t3\n1\t20\t200\t-1\n2\t10\t150\tmany\n2\t30\t5\t1\n")
    out = ingest([path], Reader(feedback="implicit"), max_bad_fraction=0.5, signal="log_count")
    assert out.ratings.rows() == [
        (1, 10, pytest.approx(1 + math.log(1 + 5)), 300),
        (2, 30, pytest.approx(1 + math.log(2)), 5),
    ]
    assert out.quarantine["reason"].to_list() == [
        "count (column 4) is negative: -1.0",
        "count (column 4) is not a number: 'many'",
    ]
    assert out.counts["interactions"] == 3 and out.counts["duplicates_superseded"] == 0


def test_interactions_without_a_count_count_once_and_parquet_works_too(tmp_path):
    csv = tmp_path / "clicks.csv"
    csv.write_text("userId,movieId,timestamp\n1,10,5\n1,10,9\n2,10,1\n")
    out = ingest([csv], Reader(feedback="implicit"))
    assert out.ratings.rows() == [(1, 10, 1.0, 9), (2, 10, 1.0, 1)]
    pq = tmp_path / "plays.parquet"
    pl.DataFrame({"user": ["a", "b"], "item": [1, 2], "plays": [4.0, 0.0]}).write_parquet(pq)
    out = ingest([pq], Reader(feedback="implicit"), signal="log_count", alpha=2.0)
    assert out.ratings.rows() == [("a", 1, pytest.approx(1 + 2 * math.log(5)), None)]


def test_the_feedback_kind_is_checked_against_each_header(tmp_path):
    rated = tmp_path / "rated.csv"
    rated.write_text("user,item,rating\n1,2,4\n")
    with pytest.raises(DataError, match=r"rated\.csv: header .* has a rating column, but the"):
        read_ratings(rated, Reader(feedback="implicit"))
    bare = tmp_path / "bare.csv"
    bare.write_text("user_id,item_id\n1,2\n")
    with pytest.raises(DataError, match=r"bare\.csv: header .* has no rating column"):
        read_ratings(bare, Reader())
    udata = tmp_path / "u.data"
    udata.write_text("1\t2\t5\t881250949\n")  # ratings read as interactions: skip column 3
    out = ingest([udata], Reader(feedback="implicit", line_format="user item _ timestamp"))
    assert out.ratings.rows() == [(1, 2, 1.0, 881250949)]
    with pytest.raises(ConfigError, match="names a rating, but the feedback is implicit"):
        Reader(feedback="implicit", line_format="user item rating")
    with pytest.raises(ConfigError, match=r"ingest\.line_format"):
        resolve(
            [("recsys.yaml", {"ingest": {"feedback": "implicit", "line_format": "u i rating"}})]
        )


def test_implicit_settings_make_interactions_relevant_and_weigh_confidence():
    s = resolve([("x", {"ingest": {"feedback": "implicit"}})])
    assert s.evaluation.threshold == 0.0 and s.models.ease.signal == "binary"
    s = resolve([("x", {"ingest": {"feedback": "implicit", "signal": "log_count"}})])
    assert (s.models.ease.signal, s.models.ials.signal) == ("confidence", "confidence")
    assert resolve([]).models.ease.signal == "graded"  # explicit: untouched
    ratings = interactions_to_ratings(CLICKS, "log_count")
    data = RatingData.from_frame(ratings)
    w = signal_matrix(data.user_items, "confidence")
    assert np.allclose(w.toarray(), data.user_items.toarray())
    scores = {
        s: EASE(reg=1.0, signal=s).fit(ratings).score_users(np.arange(3))
        for s in ("binary", "confidence")
    }
    assert not np.allclose(scores["binary"], scores["confidence"], equal_nan=True)
