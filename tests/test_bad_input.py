"""The bad-input corpus (issue 7): every case is generated here, with its documented outcome.

Each case asserts either a :class:`DataError` naming file, line and column, or the exact
quarantine (file, line, reason) and counts -- and the exact good rows kept. The README section
"Bad input: what happens" lists the same cases.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_core import DataError
from recsys_core.data.readers import Reader, raw_files
from recsys_core.data.validate import Validated, ingest

GOOD = "1\t10\t4\t100\n2\t20\t3\t200\n"
GOOD_ROWS = [(1, 10, 4.0, 100), (2, 20, 3.0, 200)]


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` as given (``str`` as UTF-8 with no newline translation)."""
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(*paths: Path, reader: Reader | None = None) -> Validated:
    """Ingest with no bad-row limit, to see every quarantine row (the limit has its own test)."""
    return ingest(paths, reader, max_bad_fraction=1.0)


def quarantined(result: Validated) -> list[tuple[str, int, str]]:
    rows = result.quarantine.select("file", "line", "reason").iter_rows()
    return [(Path(f).name, ln, why) for f, ln, why in rows]


def counts(rows: int, bad: int = 0, blank: int = 0, files: int = 1, dup: int = 0) -> dict:
    return {
        "files": files,
        "rows_read": rows,
        "blank_lines": blank,
        "bad_rows": bad,
        "duplicates_superseded": dup,
        "ratings": rows - bad - dup,
    }


# -- empty and header-only files -----------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    ["", "\n\n  \n", "userId,movieId,rating,timestamp\n"],
    ids=["empty", "blank", "header"],
)
def test_a_file_with_no_data_rows_alone_is_an_error_naming_it(tmp_path, content):
    path = write(tmp_path / "r.csv", content)
    expected = f"no usable ratings in 1 file(s) (0 data rows, 0 bad): {path}"
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        read_all(path)


def test_empty_and_header_only_files_next_to_good_ones_are_skipped(tmp_path, caplog):
    empty = write(tmp_path / "a.data", "")
    header = write(tmp_path / "b.csv", "userId,movieId,rating,timestamp\r\n")
    result = read_all(empty, header, write(tmp_path / "c.data", GOOD))
    assert result.ratings.rows() == GOOD_ROWS
    assert result.counts == counts(2, files=3) and result.quarantine.height == 0
    assert (
        f"{empty} has no data rows" in caplog.text and f"{header} has no data rows" in caplog.text
    )


# -- separators and columns ------------------------------------------------------------------------
def test_wrong_separator_for_the_reader_fails_naming_file_and_lines(tmp_path):
    path = write(tmp_path / "u.data", "1;10;4;100\n2;20;3;200\n")
    why = "expected 4 fields separated by '\\t', found 1"
    with pytest.raises(DataError) as err:
        ingest([path], Reader(name="ml-100k"))
    assert str(err.value) == (
        f"2 of 2 rows are bad (100.0% > max_bad_fraction 5.0%); commonest: {why} (2); "
        f"first: {path}:1: {why}; {path}:2: {why}"
    )


def test_a_line_with_another_separator_is_quarantined(tmp_path):
    path = write(tmp_path / "r.csv", "1,10,4,100\n2;20;3;200\n2,20,3,200\n")
    result = read_all(path)
    assert result.ratings.rows() == GOOD_ROWS
    assert quarantined(result) == [("r.csv", 2, "expected 4 fields separated by ',', found 1")]
    assert result.counts == counts(3, bad=1)


def test_no_separator_at_all_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path / "r.txt", "\nratings-export\n1 10 4\n")
    expected = f"{path}:2: cannot detect the field separator of 'ratings-export'; set sep"
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        read_all(path)


def test_wrong_number_of_columns_is_quarantined(tmp_path):
    path = write(tmp_path / "u.data", "1\t10\t4\t100\n3\t30\n4\t40\t5\t400\t9\n2\t20\t3\t200\n")
    result = read_all(path)
    assert result.ratings.rows() == GOOD_ROWS
    assert quarantined(result) == [
        ("u.data", 2, "expected 4 fields separated by '\\t', found 2"),
        ("u.data", 3, "expected 4 fields separated by '\\t', found 5"),
    ]
    assert result.counts == counts(4, bad=2)


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


# -- encodings and line endings ------------------------------------------------------------------
def test_utf8_bom_is_ignored_with_or_without_header(tmp_path):
    with_header = write(tmp_path / "a.csv", "\ufeffuserId,movieId,rating,timestamp\n1,10,4,100\n")
    without = write(tmp_path / "b.data", "\ufeff2\t20\t3\t200\n")
    result = read_all(with_header, without)
    assert result.ratings.rows() == GOOD_ROWS  # ids Int64: no BOM left on the first id
    assert result.counts == counts(2, files=2)


def test_crlf_line_endings(tmp_path):
    csv = write(tmp_path / "a.csv", "userId,movieId,rating\r\n1,10,4\r\n\r\n")
    tab = write(tmp_path / "b.data", "2\t20\t3\t200\r\n")
    result = read_all(csv, tab)
    assert result.ratings.rows() == [(1, 10, 4.0, None), (2, 20, 3.0, 200)]
    assert result.counts == counts(2, blank=1, files=2)


def test_gzip_compressed_files_are_detected_by_content(tmp_path):
    gz = write(tmp_path / "a.csv.gz", gzip.compress(b"\xef\xbb\xbfuser,item,rating\r\n1,10,4\r\n"))
    plain_named_gz = write(tmp_path / "b.data.gz", "2\t20\t3\t200\n")
    result = read_all(gz, plain_named_gz)
    assert result.ratings.rows() == [(1, 10, 4.0, None), (2, 20, 3.0, 200)]


def test_trailing_blank_lines_are_counted_not_quarantined(tmp_path):
    result = read_all(write(tmp_path / "u.data", GOOD + "\n\n   \n\t\n"))
    assert result.ratings.rows() == GOOD_ROWS
    assert result.counts == counts(2, blank=4) and result.quarantine.height == 0


# -- binary and garbage ----------------------------------------------------------------------------
def test_binary_lines_next_to_good_data_are_quarantined(tmp_path):
    blob = write(tmp_path / "a.zip", b"PK\x03\x04\x14\x00\x08\x00\nabc\xff\xfe\n")
    result = read_all(blob, write(tmp_path / "u.data", GOOD))
    assert result.ratings.rows() == GOOD_ROWS
    assert quarantined(result) == [
        ("a.zip", 1, "not UTF-8 text: byte 0x00 at column 6"),
        ("a.zip", 2, "not UTF-8 text: byte 0xff at column 4"),
    ]
    assert result.quarantine["raw"].to_list() == ["PK\x03\x04\x14\x00\x08\x00", "abc\\xff\\xfe"]
    assert result.counts == counts(4, bad=2, files=2)


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
        "userId,movieId,rating\n1,10,4\n".encode("utf-16"),  # every line has NUL bytes
    ],
    ids=["random-bytes", "utf-16"],
)
def test_a_binary_file_alone_fails_naming_file_line_and_column(tmp_path, content):
    path = write(tmp_path / "r.csv", content)
    n = len(content.rstrip(b"\n").split(b"\n"))
    with pytest.raises(DataError) as err:
        ingest([path])
    message = str(err.value)
    assert message.startswith(f"{n} of {n} rows are bad (100.0% > max_bad_fraction 5.0%)")
    first = re.escape(f"first: {path}:1: not UTF-8 text: byte 0x") + r"[0-9a-f]{2} at column \d+;"
    assert re.search(first, message)


def test_text_garbage_fails_naming_the_column(tmp_path):
    path = write(tmp_path / "r.csv", "<html><body>404 Not Found</body></html>\n")
    expected = f"{path}:1: rating (column 3) is not a number: 'Found</body></html>'"
    with pytest.raises(DataError, match=re.escape(expected)):
        ingest([path])


def test_garbage_named_parquet_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path / "r.parquet", b"PAR1 not really\n")
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: cannot read as Parquet"):
        ingest([path])


# -- several formats in one folder ---------------------------------------------------------------
def test_files_of_different_formats_in_one_folder(tmp_path):
    write(tmp_path / "a_u.data", "1\t10\t4\t100\n")
    write(tmp_path / "b_ratings.dat", "2::20::3::200\n")
    write(tmp_path / "c.csv", "timestamp,movieId,userId,rating\n300,30,3,5\n")
    write(tmp_path / "d.csv.gz", gzip.compress(b"user;item;rating\n4;40;2\n"))
    pl.DataFrame({"userId": [5], "itemId": [50], "rating": [1.0]}).write_parquet(tmp_path / "e.pq")
    result = read_all(*raw_files(tmp_path))
    assert result.ratings.rows() == [
        (1, 10, 4.0, 100),
        (2, 20, 3.0, 200),
        (3, 30, 5.0, 300),
        (4, 40, 2.0, None),
        (5, 50, 1.0, None),
    ]
    assert result.counts == counts(5, files=5)


# -- a file still being written --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("3\t30\t4\t30", None),  # cut inside the timestamp: still parses, so it is kept
        ("3\t30\t4", "expected 4 fields separated by '\\t', found 3"),
        ("3\t3", "expected 4 fields separated by '\\t', found 2"),
    ],
    ids=["still-parses", "cut-before-timestamp", "cut-in-item"],
)
def test_partial_last_line_is_kept_if_it_parses_else_quarantined(tmp_path, tail, reason):
    result = read_all(write(tmp_path / "u.data", GOOD + tail))
    if reason is None:
        assert result.ratings.rows() == [*GOOD_ROWS, (3, 30, 4.0, 30)]
        assert result.counts == counts(3)
    else:
        assert result.ratings.rows() == GOOD_ROWS
        assert quarantined(result) == [("u.data", 3, reason)]
        assert result.quarantine["raw"].to_list() == [tail]
        assert result.counts == counts(3, bad=1)


def test_partial_gzip_file_is_an_error_naming_it(tmp_path):
    path = write(tmp_path / "r.csv.gz", gzip.compress(GOOD.encode())[:-6])
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: corrupt gzip file"):
        ingest([path])


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
