"""Ids are normalised per file format before typing (issue "Unattended nights"): the same id
written two ways in two files is one id."""

import polars as pl

from recsys_core.data.validate import ingest


def test_quoted_and_unquoted_text_ids_are_the_same_id(tmp_path):
    (tmp_path / "a.csv").write_text('"userId","movieId","rating"\n"u1","m1",4\n"u2","m""x",3\n')
    (tmp_path / "b.csv").write_text('userId,movieId,rating\nu1,m2,5\nu2,m"x,2\n')
    out = ingest([tmp_path / "a.csv", tmp_path / "b.csv"]).ratings
    assert out.select("user_id", "item_id", "rating").rows() == [
        ("u1", "m1", 4.0),
        ("u1", "m2", 5.0),
        ("u2", 'm"x', 2.0),  # the later file wins the duplicate pair
    ]


def test_quoted_integer_ids_are_integers(tmp_path):
    (tmp_path / "a.csv").write_text('"user","item","rating"\n"1","10",4\n')
    (tmp_path / "b.data").write_text("2\t20\t3\n")
    out = ingest([tmp_path / "a.csv", tmp_path / "b.data"]).ratings
    assert out.schema["user_id"] == pl.Int64
    assert out.select("user_id", "item_id").rows() == [(1, 10), (2, 20)]


def test_a_lone_quote_is_part_of_the_id(tmp_path):
    (tmp_path / "a.csv").write_text('user,item,rating\n"u1,i1,4\nu1",i2,3\n')
    out = ingest([tmp_path / "a.csv"]).ratings
    assert out.select("user_id", "item_id").rows() == [('"u1', "i1"), ('u1"', "i2")]


def test_integral_parquet_float_ids_beside_text_ids_are_the_same_id(tmp_path):
    pl.DataFrame(
        {"userId": [1.0, 2.0], "itemId": [10.0, 20.0], "rating": [4.0, 3.0]}
    ).write_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.data").write_text("1\t10\t5\n3\t30\t1\n")
    result = ingest([tmp_path / "a.parquet", tmp_path / "b.data"])
    out = result.ratings
    assert out.schema["user_id"] == pl.Int64 and out.schema["item_id"] == pl.Int64
    assert out.select("user_id", "item_id", "rating").rows() == [
        (1, 10, 5.0),
        (2, 20, 3.0),
        (3, 30, 1.0),
    ]
    assert result.quarantine["raw"].to_list() == ["1,10,4.0,"]  # the superseded 1.0 x 10.0


def test_fractional_parquet_float_ids_keep_their_spelling(tmp_path):
    pl.DataFrame({"userId": [1.5, 2.0], "itemId": ["a", "b"], "rating": [4.0, 3.0]}).write_parquet(
        tmp_path / "a.parquet"
    )
    (tmp_path / "b.csv").write_text("user,item,rating\nx,c,2\n")
    out = ingest([tmp_path / "a.parquet", tmp_path / "b.csv"]).ratings
    assert out.schema["user_id"] == pl.String
    assert out.select("user_id", "item_id").rows() == [("1.5", "a"), ("2", "b"), ("x", "c")]
