"""Drift checks against the live run: hand-computed summaries, boundaries, allow list, churn."""

import json
import math
from fractions import Fraction

import polars as pl
import pytest

from recsys_core.errors import ConfigError, DataError
from recsys_core.publish.drift import (
    ALLOWED,
    CHECKS,
    changed_share,
    drift_checks,
    drift_problems,
    table_summary,
)

RATINGS = pl.DataFrame(
    {
        "user_id": [1, 1, 2, 2, 3],
        "item_id": [10, 11, 10, 12, 13],
        "rating": [4.0, 3.0, 5.0, 1.0, 2.0],
        "timestamp": [1, 2, 3, 4, 5],
    }
)


def recs(rows, user_type=pl.Int64):
    frame = pl.DataFrame(rows, schema=["user_id", "rank", "item_id", "score"], orient="row")
    return frame.with_columns(pl.col("user_id").cast(user_type))


RECS = recs([(1, 1, 12, 2.0), (1, 2, 13, 1.0), (2, 1, 11, 1.0), (3, 1, 10, 0.5)])

LIVE = {
    "id_types": {"user_id": "Int64", "item_id": "Int64"},
    "users": 1000,
    "items": 1682,
    "ratings": 100_000,
    "input_rows": 100_000,
    "published_rows": 10_000,
}


def summary(**changes):
    return {**LIVE, **changes}


def test_table_summary_hand_computed():
    got = table_summary(RATINGS, RECS, input_rows=7)
    assert got == {
        "id_types": {"user_id": "Int64", "item_id": "Int64"},
        "users": 3,
        "items": 4,
        "ratings": 5,
        "input_rows": 7,
        "published_rows": 4,
    }
    assert json.loads(json.dumps(got)) == got  # JSON-ready, as stored in the run record


def test_table_summary_string_ids_and_missing_column():
    odd = RECS.with_columns(pl.col("user_id").cast(pl.String))
    assert table_summary(RATINGS, odd, 5)["id_types"] == {"user_id": "String", "item_id": "Int64"}
    with pytest.raises(DataError, match="item_id"):
        table_summary(RATINGS, RECS.drop("item_id"), 5)


def test_same_run_passes_every_check():
    checks = drift_checks(LIVE, LIVE)
    assert set(checks) == set(CHECKS)
    assert all(c.passed and not c.allowed for c in checks.values())
    assert drift_problems(LIVE, LIVE) == {}
    assert checks["users_drop"].message == (
        "users 1,000 (live 1,000, down 0.0%); allowed drop 20.0% (floor 800.0); margin +20.00 pp"
    )


def test_no_live_run_passes_everything():
    bad = summary(users=0, id_types={"user_id": "String", "item_id": "Int64"})
    checks = drift_checks(bad, None)
    assert all(c.passed for c in checks.values())
    assert drift_problems(bad, None) == {}


@pytest.mark.parametrize(
    ("name", "key", "live"),
    [
        ("users_drop", "users", 1000),
        ("rows_drop", "published_rows", 10_000),
        ("ratings_drop", "ratings", 100_000),
    ],
)
def test_drop_boundary(name, key, live):
    exactly = live * 8 // 10  # a 20% drop: passes
    ok = drift_checks(summary(**{key: exactly}), LIVE)[name]
    assert ok.passed
    assert "down 20.0%" in ok.message and "margin +0.00 pp" in ok.message
    over = drift_checks(summary(**{key: exactly - 1}), LIVE)[name]  # just over 20%: fails
    assert not over.passed
    assert set(drift_problems(summary(**{key: exactly - 1}), LIVE)) == {name}
    growth = drift_checks(summary(**{key: live * 2}), LIVE)[name]
    assert growth.passed and "up 100.0%" in growth.message


def test_demo_night_fails_with_observed_threshold_and_margin():
    """The night an emptied raw folder published 606 demo users instead of ML-100k's 943."""
    live = summary(users=943)
    problems = drift_problems(summary(users=606), live)
    assert problems == {
        # drop 337 / 943 = 35.74%; floor 943 * 0.8 = 754.4; margin 20 - 35.74 = -15.74 pp
        "users_drop": "users 606 (live 943, down 35.7%); allowed drop 20.0% "
        "(floor 754.4); margin -15.74 pp"
    }
    assert drift_checks(summary(users=755), live)["users_drop"].passed  # 755 >= 754.4
    assert not drift_checks(summary(users=754), live)["users_drop"].passed


def test_max_drop_changes_the_boundary():
    assert drift_checks(summary(users=900), LIVE, max_drop=0.1)["users_drop"].passed
    assert not drift_checks(summary(users=899), LIVE, max_drop=0.1)["users_drop"].passed
    assert not drift_checks(summary(users=999), LIVE, max_drop=0.0)["users_drop"].passed


def test_id_type_change_fails():
    """The night one odd id ('u42') turned the published user_id column into text."""
    new = summary(id_types={"user_id": "String", "item_id": "Int64"})
    problems = drift_problems(new, LIVE)
    assert problems == {
        "id_types": "id type changed: user_id Int64 -> String (must equal the live run's)"
    }
    same = drift_checks(LIVE, LIVE)["id_types"]
    assert same.passed and same.message == "user_id Int64, item_id Int64, as in the live run"


def test_allow_list_passes_a_broken_rule_and_says_so():
    new = summary(users=606, id_types={"user_id": "String", "item_id": "Int64"})
    checks = drift_checks(new, LIVE, allow=frozenset({"users_drop"}))
    assert checks["users_drop"].passed and checks["users_drop"].allowed
    assert checks["users_drop"].message.startswith(ALLOWED + "users 606 (live 1,000")
    assert not checks["id_types"].passed  # allowing one change allows no other
    problems = drift_problems(new, LIVE, allow=frozenset({"users_drop"}))
    blocking = {k for k, v in problems.items() if not v.startswith(ALLOWED)}
    assert set(problems) == {"users_drop", "id_types"} and blocking == {"id_types"}
    unused = drift_checks(LIVE, LIVE, allow=frozenset({"rows_drop"}))["rows_drop"]
    assert unused.passed and not unused.allowed and unused.message.endswith("within the rule")


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="users_drops"):
        drift_checks(LIVE, LIVE, allow=frozenset({"users_drops"}))
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="max_drop"):
            drift_checks(LIVE, LIVE, max_drop=bad)


def test_live_record_without_summary_is_not_compared():
    """A live run recorded before these checks (or an empty live count) cannot block."""
    checks = drift_checks(summary(users=1), {})
    assert all(c.passed for c in checks.values())
    assert checks["users_drop"].message == "live run recorded no users: not compared"
    assert drift_checks(summary(users=0), summary(users=0))["users_drop"].passed
    with pytest.raises(DataError, match="users"):
        drift_checks({k: v for k, v in LIVE.items() if k != "users"}, LIVE)


def test_checks_describe_their_rule():
    text = CHECKS["users_drop"].format(max_drop=f"{0.2:.0%}")
    assert text == "The number of users is at most 20% below the live run's."
    assert all(v.format(max_drop="20%") for v in CHECKS.values())


def test_changed_share_hand_computed():
    live = recs([(1, 1, 12, 2.0), (1, 2, 13, 1.0), (2, 1, 11, 1.0), (4, 1, 10, 1.0)])
    new = recs([(1, 1, 13, 3.0), (1, 2, 12, 1.0), (2, 1, 10, 1.0), (3, 1, 10, 1.0)])
    # common users 1 and 2: user 1 same set in another order, user 2 changed -> 1 / 2
    assert changed_share(new, live) == 0.5
    assert changed_share(live, live) == 0.0
    assert math.isnan(changed_share(new.filter(pl.col("user_id") == 3), live))
    assert math.isnan(changed_share(new, live.head(0)))


def test_changed_share_across_an_id_type_change():
    live = recs([(1, 1, 12, 2.0), (2, 1, 11, 1.0)])
    new = recs([(1, 1, 12, 2.0), (2, 1, 13, 1.0)], user_type=pl.String)
    assert changed_share(new, live) == 0.5


@pytest.mark.parametrize("max_drop", [0.1, 0.2, 0.25, 0.3, 0.15])
def test_drop_rule_matches_exact_fractions(max_drop):
    """Oracle: the float comparison agrees with exact rational arithmetic on every count."""
    limit = Fraction(str(max_drop))
    for live in range(1, 1000, 37):
        for value in range(live * 6 // 10, live + 1):
            passed = drift_checks(summary(users=value), summary(users=live), max_drop)
            assert passed["users_drop"].passed == (Fraction(live - value, live) <= limit)
