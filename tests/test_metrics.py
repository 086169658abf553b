"""Metric values hand-computed on tiny lists."""

import math

import numpy as np
import polars as pl
import pytest

from recsys_core.evaluation.metrics import (
    catalog_coverage,
    mae,
    per_user_ranking,
    ranking_metrics,
    rmse,
)


def recs_frame(lists: dict[int, list[int]]) -> pl.DataFrame:
    rows = [(u, r, i) for u, items in lists.items() for r, i in enumerate(items, start=1)]
    return pl.DataFrame(rows, schema=["user_id", "rank", "item_id"], orient="row")


TEST = pl.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 3],
        "item_id": [10, 11, 12, 20, 21, 30],
        "rating": [5.0, 4.0, 2.0, 4.5, 1.0, 3.0],  # relevant: 1->{10,11}, 2->{20}; 3 has none
    }
)


def test_perfect_list_scores_one_and_empty_list_zero():
    perfect = ranking_metrics(recs_frame({1: [10, 11], 2: [20]}), TEST, k=2)
    assert perfect["ndcg"] == pytest.approx(1.0)
    assert perfect["map"] == pytest.approx(1.0)
    assert perfect["recall"] == pytest.approx(1.0)
    assert perfect["hit"] == pytest.approx(1.0)
    assert perfect["precision"] == pytest.approx((1.0 + 0.5) / 2)  # user 2 has one relevant
    none = ranking_metrics(recs_frame({1: [12, 99], 2: [21]}), TEST, k=2)
    assert all(v == 0 for v in none.values())


def test_hand_computed_values():
    recs = recs_frame({1: [99, 11, 10], 2: [21, 22, 23]})
    per_user = per_user_ranking(recs, TEST, k=3).to_dicts()
    u1, u2 = per_user
    assert u1["precision"] == pytest.approx(2 / 3)
    assert u1["recall"] == pytest.approx(1.0)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    assert u1["ndcg"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert u1["map"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert u2 == {
        "user_id": 2,
        "n_relevant": 1,
        "precision": 0.0,
        "recall": 0.0,
        "ndcg": 0.0,
        "map": 0.0,
        "hit": 0.0,
    }
    # k cuts the list: only rank 1 counts at k=1
    assert ranking_metrics(recs, TEST, k=1)["hit"] == 0.0


def test_users_without_relevant_items_are_ignored_and_unserved_users_count_zero():
    only_user_1 = ranking_metrics(recs_frame({1: [10], 3: [30]}), TEST, k=1)
    assert only_user_1["hit"] == pytest.approx(0.5)  # user 2 has relevant items, no list


def test_error_metrics_and_coverage():
    assert rmse(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(math.sqrt(4 / 3))
    assert mae(np.array([1, 2, 3]), np.array([2, 2, 5])) == pytest.approx(1.0)
    assert catalog_coverage(recs_frame({1: [1, 2], 2: [2, 3]}), 6) == pytest.approx(0.5)
