"""Readers: one round-trip per format, and the quarantine keeps every good line."""

import gzip

import polars as pl
import pytest

from recsys_core import ConfigError, DataError
from recsys_core.data.readers import Reader, read_ratings
from recsys_core.data.validate import ingest, validate
from tests.conftest import random_ratings


@pytest.fixture
def frame() -> pl.DataFrame:
    return random_ratings(n_users=8, n_items=9, seed=4)


def _text(frame: pl.DataFrame, sep: str, header: str | None = None) -> str:
    lines = [sep.join(str(v) for v in row) for row in frame.iter_rows()]
    return "\n".join(([header] if header else []) + lines) + "\n"


def _roundtrip(path, reader=None) -> pl.DataFrame:
    return ingest([path], reader).ratings


def _as_written(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["user_id", "item_id"])


def test_grouplens_tab_no_header(tmp_path, frame):
    (tmp_path / "u.data").write_text(_text(frame, "\t"))
    assert _roundtrip(tmp_path / "u.data").equals(_as_written(frame))


def test_movielens_1m_double_colon(tmp_path, frame):
    (tmp_path / "ratings.dat").write_text(_text(frame, "::"))
    assert _roundtrip(tmp_path / "ratings.dat", Reader(name="ml-1m")).equals(_as_written(frame))
    assert _roundtrip(tmp_path / "ratings.dat").equals(_as_written(frame))  # sniffed


def test_csv_with_header_in_any_column_order(tmp_path, frame):
    shuffled = frame.select("timestamp", "item_id", "user_id", "rating")
    (tmp_path / "r.csv").write_text(_text(shuffled, ",", "timestamp,movieId,userId,rating"))
    assert _roundtrip(tmp_path / "r.csv").equals(_as_written(frame))


def test_parquet_and_gzip(tmp_path, frame):
    frame.rename({"user_id": "userId", "item_id": "itemId"}).write_parquet(tmp_path / "r.parquet")
    assert _roundtrip(tmp_path / "r.parquet").equals(_as_written(frame))
    (tmp_path / "r.csv.gz").write_bytes(gzip.compress(_text(frame, ",").encode()))
    assert _roundtrip(tmp_path / "r.csv.gz").equals(_as_written(frame))


def test_surprise_options_line_format_and_skip_lines(tmp_path):
    (tmp_path / "r.txt").write_text("# exported\nignored header\n5;a;x;4\n6;b;y;2\n")
    with pytest.raises(
        DataError, match=r"rating \(column 1\) is outside rating_scale \[1.0, 5.0\]: 6.0"
    ):
        ingest(
            [tmp_path / "r.txt"], Reader(line_format="rating user junk item", sep=";", skip_lines=2)
        )
    reader = Reader(
        line_format="rating user junk item", sep=";", skip_lines=2, rating_scale=(1, 10)
    )
    out = _roundtrip(tmp_path / "r.txt", reader)
    assert out.select("user_id", "item_id", "rating").rows() == [("a", 4, 5.0), ("b", 2, 6.0)]


def test_ids_keep_their_spelling(tmp_path):
    (tmp_path / "r.csv").write_text("user,item,rating\n007,1,3\nx,18446744073709551617,4\n")
    out = _roundtrip(tmp_path / "r.csv")
    assert out.schema["user_id"] == pl.String and out.schema["item_id"] == pl.String
    assert sorted(out["user_id"].to_list()) == ["007", "x"]
    assert "18446744073709551617" in out["item_id"].to_list()


def test_quarantine_keeps_every_good_line_and_records_every_bad_one(tmp_path):
    lines = [
        "1\t10\t4\t100",  # 1 good
        "1\t11",  # 2 too few fields
        "2\t10\tfive\t100",  # 3 rating not a number
        "2\t11\t9\t100",  # 4 out of scale
        "",  # 5 blank: counted, not a rating
        "3\t10\tnan\t100",  # 6 not finite
        "3\t12\t2\t-5",  # 7 negative timestamp
        "4\t12\t2\tyesterday",  # 8 bad timestamp
        "\t12\t2\t100",  # 9 missing user
        "5\t13\t5\t100",  # 10 good
    ]
    (tmp_path / "u.data").write_text("\r\n".join(lines) + "\r\n")
    parsed = read_ratings(tmp_path / "u.data")
    result = validate([parsed], max_bad_fraction=1.0)
    assert result.ratings.select("user_id", "item_id").rows() == [(1, 10), (5, 13)]
    q = result.quarantine
    assert q["line"].to_list() == [2, 3, 4, 6, 7, 8, 9]
    reasons = dict(zip(q["line"].to_list(), q["reason"].to_list(), strict=True))
    assert "expected 4 fields" in reasons[2]
    assert reasons[3] == "rating (column 3) is not a number: 'five'"
    assert "outside rating_scale" in reasons[4]
    assert reasons[6] == "rating (column 3) is not finite: NaN"
    assert reasons[7] == "timestamp (column 4) is negative: -5"
    assert reasons[8] == "timestamp (column 4) is not an integer: 'yesterday'"
    assert reasons[9] == "user id (column 1) is missing"
    assert q.filter(pl.col("line") == 3)["raw"].item() == "2\t10\tfive\t100"
    assert result.counts["blank_lines"] == 1
    assert result.counts["rows_read"] == 9


def test_too_many_bad_rows_is_a_clear_error(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\n1\t11\tbad\n2\t10\tbad\n")
    with pytest.raises(
        DataError, match=r"2 of 3 rows are bad.*rating \(column 3\) is not a number \(2\)"
    ):
        ingest([tmp_path / "u.data"], max_bad_fraction=0.5)
    assert ingest([tmp_path / "u.data"], max_bad_fraction=0.7).ratings.height == 1


def test_duplicates_latest_timestamp_wins_and_loser_is_quarantined(tmp_path):
    (tmp_path / "a.data").write_text("1\t10\t4\t200\n1\t10\t1\t100\n")
    (tmp_path / "b.csv").write_text("user,item,rating,timestamp\n1\t10\t9\t0\n".replace("\t", ","))
    paths = [tmp_path / "a.data", tmp_path / "b.csv"]
    result = ingest(paths, Reader(rating_scale=(0, 10)))
    assert result.ratings.rows() == [(1, 10, 4.0, 200)]
    assert result.quarantine.height == 2
    assert result.quarantine["reason"].str.starts_with("duplicate").all()
    assert result.counts["bad_rows"] == 0 and result.counts["duplicates_superseded"] == 2


def test_missing_file_and_bad_reader_options(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_ratings(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="rating_scale"):
        Reader(rating_scale=(5, 1))
    with pytest.raises(ConfigError, match="lacks 'item'"):
        Reader(line_format="user rating")
    with pytest.raises(ConfigError, match="'name'"):
        Reader(name="ml-10m")
