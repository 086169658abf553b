"""The bad-input corpus (issue 7), bad files: empty and header-only files, separators and
columns, encodings and line endings, binary and garbage, several formats in one folder, a file
still being written. Bad values are in tests/test_bad_input.py.

Each case asserts either a :class:`DataError` naming file, line and column, or the exact
quarantine (file, line, reason) and counts -- and the exact good rows kept.
"""

from __future__ import annotations

import gzip
import re

import numpy as np
import polars as pl
import pytest

from recsys_core import DataError
from recsys_core.data.readers import Reader, raw_files
from recsys_core.data.validate import ingest
from tests.badinput import GOOD, GOOD_ROWS, counts, quarantined, read_all, write


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
