"""Implicit feedback through the pipeline: interaction files (no rating column) with
``ingest.feedback: implicit`` give lists, the gate and the report; the rating predictors are
skipped and say why. One night on small random interactions; ML-100k with its ratings dropped
when the data is present."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import polars as pl
import pytest

from pipeline.__main__ import failure_reason
from pipeline.assets.ingest import validated_ratings
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core.errors import DataError
from tests.conftest import ML100K, random_ratings
from tests.test_pipeline import materialized, write_raw
from tests.test_rules_pipeline import nightly

N = 10
IMPLICIT = {"ingest": {"feedback": "implicit", "signal": "log_count"}}


def clicks(seed: int = 3) -> pl.DataFrame:
    """Random interactions with a count; the first pair appears twice (counts 2 and 3)."""
    frame = random_ratings(n_users=40, n_items=60, density=0.3, seed=seed).drop("rating")
    counts = np.random.default_rng(seed).integers(1, 5, frame.height)
    frame = frame.with_columns(pl.Series("count", counts, dtype=pl.Int64))
    first = frame.head(1)
    twice = [first.with_columns(count=pl.lit(c, pl.Int64)) for c in (2, 3)]
    return pl.concat([*twice, frame.slice(1)])


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("implicit")
    frame = clicks()
    text = frame.write_csv() + "7,101,1500000,x\n"  # one bad count
    (root / "raw").mkdir()
    (root / "raw" / "plays.csv").write_text(text)
    (root / "models").mkdir()  # last night's rating model, which must not be read tonight
    (root / "models" / "biased_mf_train_model.npz").write_bytes(b"an explicit night's model")
    result = nightly(root, IMPLICIT)
    return {
        "root": root,
        "clicks": frame,
        "result": result,
        "record": json.loads((root / "published" / "run.json").read_text()),
        "metrics": pl.read_parquet(root / "published" / "metrics.parquet"),
        "lists": pl.read_parquet(root / "published" / "recommendations.parquet"),
        "page": (root / "published" / "report.html").read_text(encoding="utf-8"),
    }


def test_an_implicit_night_publishes_with_the_gate_green(night):
    assert night["result"].success, failure_reason(night["result"])
    assert all(c.passed for c in night["result"].get_asset_check_evaluations())
    per_user = night["lists"].group_by("user_id").len()
    assert per_user.height == 40 and (per_user["len"] == N).all()


def test_interactions_become_one_log_count_signal_per_pair(night):
    ratings = pl.read_parquet(night["root"] / "warehouse" / "ratings.parquet")
    pairs = night["clicks"].select("user_id", "item_id").unique()
    assert ratings.height == pairs.height
    first = night["clicks"].row(0, named=True)
    got = ratings.filter(
        (pl.col("user_id") == first["user_id"]) & (pl.col("item_id") == first["item_id"])
    )
    assert got["rating"].item() == pytest.approx(1 + math.log(1 + 5))  # counts 2 + 3
    assert ratings["rating"].min() == pytest.approx(1 + math.log(2))  # a count of 1
    quarantine = pl.read_parquet(night["root"] / "warehouse" / "quarantine.parquet")
    assert quarantine["reason"].to_list() == ["count (column 4) is not a number: 'x'"]


def test_rating_predictors_are_skipped_with_the_reason(night):
    for asset in ("biased_mf_train_model", "rating_blend_train_model", "biased_mf_metrics"):
        reason = materialized(night["result"], asset).metadata["skipped"].value
        assert "predicts ratings" in reason and "implicit" in reason, asset
    stored = json.loads((night["root"] / "warehouse" / "biased_mf_train_model.json").read_text())
    assert "implicit feedback" in stored["skipped"]
    assert not (night["root"] / "models" / "biased_mf_train_model.npz").exists(), "one form"
    metrics = night["metrics"]
    assert not {"biased_mf", "rating_blend"} & set(metrics["model"])
    assert not metrics["metric"].is_in(["rmse", "mae"]).any()
    assert {"hybrid", "popularity"} <= set(metrics.filter(pl.col("metric") == "ndcg")["model"])


def test_the_settings_follow_the_feedback_and_the_report_says_so(night):
    settings = night["record"]["settings"]
    assert settings["evaluation"]["threshold"] == 0.0
    assert settings["models"]["ease"]["signal"] == settings["models"]["ials"]["signal"]
    assert settings["models"]["ease"]["signal"] == "confidence"
    page = night["page"]
    assert "Implicit feedback" in page and "rating predictors" in page
    assert "<th>rmse</th>" not in page


def test_a_header_without_ratings_fails_clearly_when_ratings_are_expected(tmp_path):
    """The ingest asset, called as the pipeline defines it, with the default settings."""
    write_raw(tmp_path, clicks().drop("count"), "clicks.csv")
    root = DataRoot(root=str(tmp_path))
    expected = "clicks.csv: header ['user_id', 'item_id', 'timestamp'] has no rating column"
    with pytest.raises(DataError, match=re.escape(expected) + r".*\(ingest\.feedback\)"):
        list(validated_ratings(settings=RecsysSettings(data_root=root), data_root=root))


@pytest.mark.slow
@pytest.mark.ml100k
def test_ml100k_as_interactions_end_to_end(tmp_path):
    """ML-100k with its ratings dropped (each pair one interaction), the default settings but
    ``ingest.feedback: implicit``: lists, the gate (popularity lift 1.5) and NDCG@10 beside
    popularity's against the held-out interactions."""
    if not ML100K.exists():
        pytest.skip("ml-100k not available")
    frame = pl.read_csv(
        ML100K, separator="\t", has_header=False, new_columns=["user_id", "item_id", "r", "ts"]
    )
    (tmp_path / "raw").mkdir()
    frame.select("user_id", "item_id", pl.col("ts").alias("timestamp")).write_csv(
        tmp_path / "raw" / "views.csv"
    )
    result = nightly(tmp_path, {"ingest": {"feedback": "implicit"}}, smoke=False)
    assert result.success, failure_reason(result)
    lists = pl.read_parquet(tmp_path / "published" / "recommendations.parquet")
    assert lists.height == 943 * N
    metrics = pl.read_parquet(tmp_path / "published" / "metrics.parquet")
    ndcg = dict(
        metrics.filter((pl.col("metric") == "ndcg") & (pl.col("k") == 10))
        .filter(pl.col("segment") == "all")
        .select("model", "value")
        .iter_rows()
    )
    print(f"ML-100k implicit NDCG@10: {ndcg}")
    assert ndcg["hybrid"] >= 1.5 * ndcg["popularity"]
    assert "rmse" not in set(metrics["metric"])
