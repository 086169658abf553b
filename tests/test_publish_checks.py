"""The check functions behind the blocking asset checks catch each kind of bad table."""

import polars as pl

from recsys_core.publish.checks import ratings_problems, recommendation_problems

RATINGS = pl.DataFrame(
    {
        "user_id": [1, 1, 2, 2],
        "item_id": [10, 11, 10, 12],
        "rating": [4.0, 3.0, 5.0, 1.0],
        "timestamp": [1, 2, 3, 4],
    }
)


def recs(rows):
    return pl.DataFrame(rows, schema=["user_id", "rank", "item_id", "score"], orient="row")


GOOD = recs([(1, 1, 12, 2.0), (2, 1, 11, 1.0)])


def test_good_tables_pass():
    assert ratings_problems(RATINGS, (1, 5)) == {}
    assert recommendation_problems(GOOD, RATINGS, n=5) == {}  # each user has 1 candidate


def test_ratings_problems():
    assert set(ratings_problems(RATINGS, (2, 5))) == {"rating_range"}
    dup = pl.concat([RATINGS, RATINGS.head(1)])
    assert set(ratings_problems(dup, (1, 5))) == {"duplicate_pairs"}
    assert set(ratings_problems(RATINGS.drop("timestamp"), (1, 5))) == {"schema"}


def test_recommendation_problems_each_kind():
    cases = {
        "rows_per_user": recs([(1, 1, 12, 2.0)]),
        "already_rated": recs([(1, 1, 10, 2.0), (2, 1, 11, 1.0)]),
        "ranks": recs([(1, 2, 12, 2.0), (2, 1, 11, 1.0)]),
        "finite_scores": recs([(1, 1, 12, float("nan")), (2, 1, 11, 1.0)]),
        "unknown_ids": recs([(1, 1, 12, 2.0), (2, 1, 11, 1.0), (9, 1, 10, 1.0)]),
    }
    for name, table in cases.items():
        assert name in recommendation_problems(table, RATINGS, n=5), name
    doubled = recs([(1, 1, 12, 2.0), (1, 2, 12, 1.0), (2, 1, 11, 1.0)])
    assert "distinct_items" in recommendation_problems(doubled, RATINGS, n=5)


def test_quality_gate_floor_and_regression():
    from recsys_core.publish.checks import quality_problems

    assert quality_problems(0.30, 0.31, min_ndcg=0.1, max_drop=0.02) == {}
    assert set(quality_problems(0.05, None, min_ndcg=0.1, max_drop=0.02)) == {"ndcg_floor"}
    assert set(quality_problems(0.25, 0.31, min_ndcg=0.1, max_drop=0.02)) == {"ndcg_regression"}
    assert set(quality_problems(float("nan"), None, min_ndcg=0.1, max_drop=0.02)) == {"ndcg_floor"}


def test_atomic_files_are_readable_by_others(tmp_path):
    import os
    import stat

    from recsys_core.publish.files import write_text_atomic

    old = os.umask(0o022)
    try:
        path = write_text_atomic("x", tmp_path / "a.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_quality_gate_wants_a_lift_over_popularity():
    from recsys_core.publish.checks import quality_problems

    gate = {"min_ndcg": 0.05, "max_drop": 0.05}
    assert quality_problems(0.386, None, popularity_ndcg=0.181, **gate) == {}  # ML-100k: 2.1x
    # above the absolute floor, but only 1.2x popularity: blocked at the default lift 1.5
    problems = quality_problems(0.22, None, popularity_ndcg=0.181, **gate)
    assert set(problems) == {"popularity_lift"} and "0.2715" in problems["popularity_lift"]
    assert quality_problems(0.22, None, popularity_ndcg=0.181, min_lift=1.2, **gate) == {}
    assert quality_problems(0.22, None, **gate) == {}  # no baseline given: no relative check
    nan = float("nan")
    assert "popularity_lift" in quality_problems(nan, None, popularity_ndcg=0.1, **gate)
    assert "popularity_lift" in quality_problems(0.3, None, popularity_ndcg=nan, **gate)
