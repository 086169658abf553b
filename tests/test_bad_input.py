"""The bad-input corpus (issue 7), bad values: ratings, timestamps, duplicates, ids and the
bad-row threshold; bad files (empty, separators, encodings, binary, formats, partial writes) are
in tests/test_bad_files.py. Every case is generated here, with its documented outcome.

Each case asserts either a :class:`DataError` naming file, line and column, or the exact
quarantine (file, line, reason) and counts -- and the exact good rows kept. The README section
"Bad input: what happens" lists the same cases.
"""

from __future__ import annotations

import polars as pl
import pytest

from recsys_core import DataError
from recsys_core.data.validate import ingest
from tests.badinput import GOOD, GOOD_ROWS, counts, quarantined, read_all, write


# -- ratings -------------------------------------------------------------------------------------
def test_non_numeric_rating_is_quarantined_naming_the_column(tmp_path):
    bad = "3\t30\tfive\t300\n4\t40\t\t400\n5\t50\t4,5\t500\n"
    result = read_all(write(tmp_path / "u.data", GOOD + bad))
    assert result.ratings.rows() == GOOD_ROWS
    assert quarantined(result) == [
        ("u.data", 3, "rating (column 3) is not a number: 'five'"),
        ("u.data", 4, "rating (column 3) is not a number: ''"),
        ("u.data", 5, "rating (column 3) is not a number: '4,5'"),
    ]
    assert result.counts == counts(5, bad=3)


def test_nan_and_inf_ratings_are_quarantined(tmp_path):
    bad = "3\t30\tnan\t300\n4\t40\tNaN\t400\n5\t50\tinf\t500\n6\t60\t-Infinity\t600\n"
    result = read_all(write(tmp_path / "u.data", GOOD + bad))
    assert result.ratings.rows() == GOOD_ROWS
    assert quarantined(result) == [
        ("u.data", 3, "rating (column 3) is not finite: NaN"),
        ("u.data", 4, "rating (column 3) is not finite: NaN"),
        ("u.data", 5, "rating (column 3) is not finite: inf"),
        ("u.data", 6, "rating (column 3) is not finite: -inf"),
    ]
    assert result.counts == counts(6, bad=4)


def test_parquet_bad_values_name_the_parquet_column(tmp_path):
    path = tmp_path / "r.parquet"
    pl.DataFrame(
        {"userId": ["1", None, "2"], "movieId": [10, 30, 20], "score": [4.0, 3.0, float("nan")]}
    ).write_parquet(path)
    result = read_all(path)
    assert result.ratings.rows() == [(1, 10, 4.0, None)]
    assert quarantined(result) == [
        ("r.parquet", 2, "user id (column 'userId') is missing"),
        ("r.parquet", 3, "rating (column 'score') is not finite: NaN"),
    ]


def test_rating_outside_the_scale_is_quarantined_bounds_are_kept(tmp_path):
    bad = "3\t30\t0\t300\n4\t40\t5.5\t400\n5\t50\t-1\t500\n"
    edges = "6\t60\t1\t600\n7\t70\t5\t700\n"
    result = read_all(write(tmp_path / "u.data", GOOD + bad + edges))
    assert result.ratings.rows() == [*GOOD_ROWS, (6, 60, 1.0, 600), (7, 70, 5.0, 700)]
    assert quarantined(result) == [
        ("u.data", 3, "rating (column 3) is outside rating_scale [1.0, 5.0]: 0.0"),
        ("u.data", 4, "rating (column 3) is outside rating_scale [1.0, 5.0]: 5.5"),
        ("u.data", 5, "rating (column 3) is outside rating_scale [1.0, 5.0]: -1.0"),
    ]
    assert result.counts == counts(7, bad=3)


# -- timestamps ----------------------------------------------------------------------------------
def test_negative_non_numeric_or_missing_timestamp_is_quarantined(tmp_path):
    bad = "3\t30\t3\t-1\n4\t40\t3\tyesterday\n5\t50\t3\t2024-01-01\n6\t60\t3\t1.5\n7\t70\t3\t\n"
    integral = "8\t80\t3\t800.0\n9\t90\t3\t9e2\n"  # written as floats, but whole: kept
    result = read_all(write(tmp_path / "u.data", GOOD + bad + integral))
    assert result.ratings.rows() == [*GOOD_ROWS, (8, 80, 3.0, 800), (9, 90, 3.0, 900)]
    assert quarantined(result) == [
        ("u.data", 3, "timestamp (column 4) is negative: -1"),
        ("u.data", 4, "timestamp (column 4) is not an integer: 'yesterday'"),
        ("u.data", 5, "timestamp (column 4) is not an integer: '2024-01-01'"),
        ("u.data", 6, "timestamp (column 4) is not an integer: '1.5'"),
        ("u.data", 7, "timestamp (column 4) is missing"),
    ]
    assert result.counts == counts(9, bad=5)


@pytest.mark.parametrize(
    ("name", "content"),
    [("u.data", "1\t10\t4\n2\t20\t3\n"), ("r.csv", "user,item,rating\n1,10,4\n2,20,3\n")],
)
def test_no_timestamp_column_is_allowed(tmp_path, name, content):
    result = read_all(write(tmp_path / name, content))
    assert result.ratings.rows() == [(1, 10, 4.0, None), (2, 20, 3.0, None)]
    assert result.ratings.schema["timestamp"] == pl.Int64
    assert result.counts == counts(2) and result.quarantine.height == 0


# -- duplicates ----------------------------------------------------------------------------------
def test_duplicate_pairs_latest_timestamp_wins_the_others_are_quarantined(tmp_path):
    a = write(tmp_path / "a.data", "1\t10\t4\t200\n1\t10\t1\t100\n2\t20\t5\t300\n2\t20\t3\t300\n")
    b = write(tmp_path / "b.csv", "user,item,rating\n1,10,2\n3,30,2\n3,30,5\n")
    result = read_all(a, b)
    assert result.ratings.rows() == [(1, 10, 4.0, 200), (2, 20, 3.0, 300), (3, 30, 5.0, None)]
    superseded = "duplicate (user, item): superseded by "
    assert quarantined(result) == [
        ("a.data", 2, f"{superseded}{a}:1"),  # older timestamp
        ("a.data", 3, f"{superseded}{a}:4"),  # same timestamp: the later line wins
        ("b.csv", 2, f"{superseded}{a}:1"),  # no timestamp loses to one with
        ("b.csv", 3, f"{superseded}{b}:4"),  # neither has one: the later line wins
    ]
    assert result.counts == counts(7, files=2, dup=4)  # superseded rows are not bad rows


# -- ids -----------------------------------------------------------------------------------------
def test_string_and_very_large_integer_ids_stay_exactly_as_written(tmp_path):
    users = ["007", "u42", "18446744073709551617", "1234567890123456789", "-5", "42"]
    items = ["9223372036854775807", "99999999999999999999999", "1", "01", "+3", "x y"]
    lines = [f"{u}\t{i}\t3\t{k}" for k, (u, i) in enumerate(zip(users, items, strict=True))]
    result = read_all(write(tmp_path / "u.data", "\n".join(lines) + "\n"))
    assert result.ratings.schema["user_id"] == result.ratings.schema["item_id"] == pl.String
    assert sorted(result.ratings.select("user_id", "item_id").rows()) == sorted(
        zip(users, items, strict=True)
    )
    assert result.counts == counts(6)


def test_plain_integer_ids_up_to_18_digits_become_int64(tmp_path):
    result = read_all(write(tmp_path / "u.data", "123456789012345678\t0\t3\t1\n5\t10\t4\t2\n"))
    assert result.ratings.schema["user_id"] == result.ratings.schema["item_id"] == pl.Int64
    assert result.ratings.rows() == [(5, 10, 4.0, 2), (123456789012345678, 0, 3.0, 1)]


def test_unicode_ids_stay_exactly_as_written(tmp_path):
    nfc, nfd = "Jos\u00e9", "Jose\u0301"  # the same name, composed and decomposed: two ids
    pairs = [(nfc, "café ☕"), (nfd, "café ☕"), ("用户", "🎬"), ("Ελένη", "фильм")]
    content = "user,item,rating\n" + "".join(f"{u},{i},4\n" for u, i in pairs)
    result = read_all(write(tmp_path / "r.csv", content))
    assert result.ratings.schema["user_id"] == pl.String
    assert sorted(result.ratings.select("user_id", "item_id").rows()) == sorted(pairs)
    assert result.counts == counts(4)


def test_ids_that_are_not_utf8_are_quarantined_not_merged(tmp_path):
    latin1 = "user,item,rating\ncafé,1,4\ncafè,1,3\nok,1,5\n".encode("latin-1")
    result = read_all(write(tmp_path / "r.csv", latin1))
    assert result.ratings.rows() == [("ok", 1, 5.0, None)]
    assert quarantined(result) == [
        ("r.csv", 2, "not UTF-8 text: byte 0xe9 at column 4"),
        ("r.csv", 3, "not UTF-8 text: byte 0xe8 at column 4"),
    ]
    assert result.quarantine["raw"].to_list() == ["caf\\xe9,1,4", "caf\\xe8,1,3"]


# -- the bad-row threshold -----------------------------------------------------------------------
def _twenty_rows(bad_lines: set[int]) -> str:
    return "".join(
        f"{k}\t{k}\t{'x' if k in bad_lines else 3}\t{k}\n" for k in range(1, 21)
    )  # line k holds user k


def test_bad_rows_at_the_threshold_are_quarantined(tmp_path):
    result = ingest([write(tmp_path / "u.data", _twenty_rows({3}))], max_bad_fraction=0.05)
    assert result.ratings.rows() == [(k, k, 3.0, k) for k in range(1, 21) if k != 3]
    assert quarantined(result) == [("u.data", 3, "rating (column 3) is not a number: 'x'")]


def test_over_the_threshold_ingest_raises_naming_file_line_and_column(tmp_path):
    path = write(tmp_path / "u.data", _twenty_rows({3, 7}))
    with pytest.raises(DataError) as err:
        ingest([path], max_bad_fraction=0.05)
    assert str(err.value) == (
        "2 of 20 rows are bad (10.0% > max_bad_fraction 5.0%); commonest: "
        "rating (column 3) is not a number (2); first: "
        f"{path}:3: rating (column 3) is not a number: 'x'; "
        f"{path}:7: rating (column 3) is not a number: 'x'"
    )


def test_superseded_duplicates_do_not_count_toward_the_threshold(tmp_path):
    path = write(tmp_path / "u.data", "1\t10\t4\t100\n" * 5 + "1\t10\t5\t200\n")
    result = ingest([path], max_bad_fraction=0.0)
    assert result.ratings.rows() == [(1, 10, 5.0, 200)]
    assert result.counts == counts(6, dup=5)
