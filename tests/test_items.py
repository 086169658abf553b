"""Item metadata: u.item (latin-1, genre flags), movies.csv variants, optional and typed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recsys_core.data.items import ML100K_GENRES, find_items_file, read_items
from recsys_core.errors import DataError

SHARED_MOVIES = Path(__file__).resolve().parents[1].parent / "shared/data/ml-100k/movies.csv"


def flags(*on: str) -> str:
    return "|".join("1" if g in on else "0" for g in ML100K_GENRES)


def test_u_item_latin1_with_genre_flags(tmp_path):
    path = tmp_path / "u.item"
    lines = [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags('Animation', 'Comedy')}",
        f"2|Café Society (1995)|01-Jan-1995||http://y|{flags('Drama')}",
        f"3|unknown||||{flags()}",
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    items = read_items(path)
    assert items.schema == {"item_id": pl.Int64, "title": pl.String, "genres": pl.List(pl.String)}
    assert items.rows() == [
        (1, "Toy Story (1995)", ["Animation", "Comedy"]),
        (2, "Café Society (1995)", ["Drama"]),
        (3, "unknown", []),
    ]


def test_u_genre_names_are_used_when_present(tmp_path):
    (tmp_path / "u.genre").write_text("b|1\na|0\n")
    (tmp_path / "u.item").write_text("7|X||||0|1\n")
    assert read_items(tmp_path / "u.item")["genres"].to_list() == [["b"]]


def test_u_item_too_few_fields_names_the_line(tmp_path):
    (tmp_path / "u.item").write_text(f"1|A||||{flags()}\n2|B|x\n")
    with pytest.raises(DataError, match=r"u\.item:2: 3 fields"):
        read_items(tmp_path / "u.item")


@pytest.mark.parametrize(
    "text",
    [
        "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n"
        '2,"Heat, The (1995)",(no genres listed)\nu9,Odd,\n',
        "id,title,release_year,genres\n1,Toy Story (1995),1995,Animation|Comedy\n"
        '2,"Heat, The (1995)",1995,\nu9,Odd,,\n',
    ],
)
def test_movies_csv_variants(tmp_path, text):
    path = tmp_path / "movies.csv"
    path.write_text(text)
    items = read_items(path)
    assert items["item_id"].dtype == pl.String  # 'u9' keeps every id a string
    assert items.rows() == [
        ("1", "Toy Story (1995)", ["Animation", "Comedy"]),
        ("2", "Heat, The (1995)", []),
        ("u9", "Odd", []),
    ]


def test_csv_without_title_is_named(tmp_path):
    (tmp_path / "items.csv").write_text("item_id,name\n1,A\n")
    with pytest.raises(DataError, match=r"items\.csv: needs an item id column and a title"):
        read_items(tmp_path / "items.csv")


def test_metadata_is_optional(tmp_path):
    assert find_items_file(tmp_path) is None
    (tmp_path / "movies.csv").write_text("movieId,title\n5,A\n")
    assert find_items_file(tmp_path) == tmp_path / "movies.csv"
    assert read_items(tmp_path / "movies.csv").rows() == [(5, "A", [])]


@pytest.mark.ml100k
def test_shared_ml100k_movies():
    if not SHARED_MOVIES.exists():
        pytest.skip("ml-100k not available")
    items = read_items(SHARED_MOVIES)
    assert items.height == 1682 and items["item_id"].dtype == pl.Int64
    assert items.filter(pl.col("item_id") == 1)["genres"].to_list() == [
        ["Animation", "Children's", "Comedy"]
    ]
