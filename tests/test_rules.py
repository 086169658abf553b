"""Business rules: each rule kind, unknown ids reported, bad files named, lists keep n rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_core.data.ids import RatingData
from recsys_core.errors import DataError
from recsys_core.models.ease import EASE
from recsys_core.models.popularity import Popularity
from recsys_core.publish.checks import recommendation_problems
from recsys_core.ranking.removed import removed_frame, rule_summary, rules_for_ratings
from recsys_core.ranking.rules import (
    Rules,
    excluded_problems,
    load_rules,
    read_rule_files,
    rules_from_frame,
)
from recsys_core.ranking.similar import similar_items, similar_items_problems
from recsys_core.ranking.topn import block_topn
from tests.conftest import random_ratings


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def ids(ratings: pl.DataFrame) -> RatingData:
    return RatingData.from_frame(ratings)


def ruled_topn(model, rules: Rules, n: int, block_size: int = 7) -> pl.DataFrame:
    """The simple top-N with the rules' mask set to -inf, as the hybrid's ranker will do."""

    def score(block: np.ndarray) -> np.ndarray:
        scores = np.array(model.score_users(block), dtype=np.float64)
        mask = rules.exclusions(block)
        if mask is not None:
            scores[mask] = -np.inf
        return scores

    users = np.arange(model.data.n_users)
    return model.to_frame(block_topn(score, model.data.user_items, users, n, block_size))


def test_no_folder_no_rules(tmp_path, ratings):
    data = ids(ratings)
    rules = load_rules(tmp_path / "rules", data.users, data.items)
    assert rules.is_empty
    assert rules.exclusions(np.arange(5)) is None
    assert rules.summary()["excluded_items"] == 0


def test_exclude_items(tmp_path, ratings):
    data = ids(ratings)
    write(tmp_path, "exclude_items.csv", "item_id\n101\n105\n99999\n007\n")
    rules = load_rules(tmp_path, data.users, data.items)
    mask = rules.exclusions(np.array([0, 3]))
    assert mask.shape == (2, data.n_items)
    assert set(np.flatnonzero(mask[0])) == set(data.items.index_of([101, 105]))
    report = rules.summary()["files"]["exclude_items.csv"]
    assert report["rows"] == 4 and report["unknown_id_rows"] == 2  # 99999 and "007"
    assert {"item_id": "007"} in report["examples"]


def test_exclude_pairs(tmp_path, ratings):
    data = ids(ratings)
    write(tmp_path, "exclude_pairs.csv", "user_id,item_id\n1,101\n1,102\n2,103\n1,101\n")
    rules = load_rules(tmp_path, data.users, data.items)
    u1, u2, u3 = data.users.index_of([1, 2, 3])
    mask = rules.exclusions(np.array([u3, u1, u2]))
    assert not mask[0].any()
    assert set(np.flatnonzero(mask[1])) == set(data.items.index_of([101, 102]))
    assert set(np.flatnonzero(mask[2])) == set(data.items.index_of([103]))
    assert rules.exclusions(np.array([u3])) is None
    assert rules.summary()["excluded_pairs"] == 3


def test_segments_restrict_to_allowed_items(tmp_path, ratings):
    data = ids(ratings)
    write(tmp_path, "allowed_items.csv", "segment,item_id\nkids,101\nkids,102\nnone,99999\n")
    write(tmp_path, "user_segments.csv", "user_id,segment\n1,kids\n2,none\n3,adults\n")
    rules = load_rules(tmp_path, data.users, data.items)
    u1, u2, u3, u4 = data.users.index_of([1, 2, 3, 4])
    mask = rules.exclusions(np.array([u1, u2, u3, u4]))
    assert set(np.flatnonzero(~mask[0])) == set(data.items.index_of([101, 102]))
    assert mask[1].all()  # a segment whose allowed ids are all unknown allows nothing
    assert not mask[2].any() and not mask[3].any()  # 'adults' has no allowed list
    summary = rules.summary()
    assert summary["segments"]["kids"] == {"allowed_items": 2, "users": 1}
    assert summary["files"]["user_segments.csv"]["segments_without_allowed_items"] == ["adults"]


def test_string_ids(tmp_path):
    ratings = random_ratings(string_ids=True)
    data = ids(ratings)
    write(tmp_path, "exclude_pairs.csv", "user_id,item_id\nu1,i101\n1,101\n")
    rules = load_rules(tmp_path, data.users, data.items)
    assert rules.summary()["files"]["exclude_pairs.csv"]["unknown_id_rows"] == 1
    assert rules.exclusions(data.users.index_of(["u1"]))[0, data.items.index_of(["i101"])[0]]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("item\n101\n", r"exclude_items\.csv: lacks column\(s\) \['item_id'\]"),
        ("item_id,note\n101,a\n,b\n", r"exclude_items\.csv: .*empty value"),
        ('item_id,x\n"101\n', r"exclude_items\.csv"),
    ],
)
def test_malformed_file_is_named(tmp_path, ratings, text, match):
    data = ids(ratings)
    write(tmp_path, "exclude_items.csv", text)
    with pytest.raises(DataError, match=match):
        load_rules(tmp_path, data.users, data.items)


def test_user_in_two_segments_is_an_error(tmp_path, ratings):
    data = ids(ratings)
    write(tmp_path, "allowed_items.csv", "segment,item_id\na,101\nb,102\n")
    write(tmp_path, "user_segments.csv", "user_id,segment\n1,a\n1,b\n")
    with pytest.raises(DataError, match=r"user_segments\.csv"):
        load_rules(tmp_path, data.users, data.items)


def test_every_rule_kind_together_keeps_n_and_is_checked(tmp_path):
    ratings = random_ratings(n_users=40, n_items=60, density=0.15, seed=2)
    model = Popularity().fit(ratings)
    data = model.data
    write(tmp_path, "exclude_items.csv", "item_id\n101\n102\n")
    write(tmp_path, "exclude_pairs.csv", "user_id,item_id\n1,103\n2,104\n")
    allowed = "\n".join(f"small,{i}" for i in range(110, 140))
    write(tmp_path, "allowed_items.csv", "segment,item_id\n" + allowed + "\n")
    write(tmp_path, "user_segments.csv", "user_id,segment\n3,small\n4,small\n")
    rules = load_rules(tmp_path, data.users, data.items)
    recs = ruled_topn(model, rules, 5)
    assert excluded_problems(recs, rules) == {}
    assert recs.group_by("user_id").len()["len"].unique().to_list() == [5]
    small = recs.filter(pl.col("user_id").is_in([3, 4]))["item_id"]
    assert small.is_between(110, 139).all()
    unruled = model.recommend(5)
    problems = excluded_problems(unruled, rules)
    assert "break a business rule" in problems["excluded"]


@pytest.mark.ml100k
def test_ml100k_top20_excluded_every_user_keeps_n(tmp_path, ml100k):
    model = Popularity().fit(ml100k)
    counts = ml100k.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    top20 = counts.head(20)["item_id"]
    write(tmp_path, "exclude_items.csv", "item_id\n" + "\n".join(map(str, top20)) + "\n")
    rules = load_rules(tmp_path, model.data.users, model.data.items)
    recs = ruled_topn(model, rules, 10, block_size=128)
    assert not recs["item_id"].is_in(top20.implode()).any()
    assert recs.group_by("user_id").len()["len"].unique().to_list() == [10]
    assert recs["user_id"].n_unique() == ml100k["user_id"].n_unique()
    assert excluded_problems(recs, rules) == {}
    assert rules.summary()["excluded_items"] == 20


def test_a_snapshot_indexes_like_the_folder(tmp_path, ratings):
    data = ids(ratings)
    write(tmp_path, "exclude_items.csv", "item_id\n101\n")
    write(tmp_path, "exclude_pairs.csv", "user_id,item_id\n1,102\n")
    snapshot = read_rule_files(tmp_path)
    assert snapshot.columns == ["file", "user_id", "item_id", "segment"]
    assert snapshot.rows() == [
        ("exclude_items.csv", None, "101", None),
        ("exclude_pairs.csv", "1", "102", None),
    ]
    users = np.arange(data.n_users)
    direct = load_rules(tmp_path, data.users, data.items).exclusions(users)
    assert np.array_equal(
        rules_from_frame(snapshot, data.users, data.items).exclusions(users), direct
    )
    assert read_rule_files(tmp_path / "absent").height == 0


def test_removed_counts_match_a_brute_force_oracle(tmp_path):
    """Per user, the removed candidates are the forbidden items they have not rated, counted
    here with Python sets; each kind alone, then the union."""
    ratings = random_ratings(n_users=30, n_items=50, density=0.2, seed=5)
    write(tmp_path, "exclude_items.csv", "item_id\n101\n102\n103\n")
    write(tmp_path, "exclude_pairs.csv", "user_id,item_id\n1,101\n1,110\n2,111\n")
    write(tmp_path, "allowed_items.csv", "segment,item_id\n" + "".join(
        f"s,{i}\n" for i in range(101, 121)))  # fmt: skip
    write(tmp_path, "user_segments.csv", "user_id,segment\n1,s\n3,s\n")
    rules, data = rules_for_ratings(read_rule_files(tmp_path), ratings)
    items = set(ratings["item_id"])
    seen = {u: set(g["item_id"]) for (u,), g in ratings.group_by("user_id")}
    forbid = {
        "exclude_items": {u: {101, 102, 103} for u in seen},
        "exclude_pairs": {1: {101, 110}, 2: {111}},
        "segments": {u: items - set(range(101, 121)) for u in (1, 3)},
    }
    summary = rule_summary(rules, data.user_items)
    for kind, per_user in forbid.items():
        counts = [len(f - seen[u]) for u, f in per_user.items()]
        want = {"candidates": sum(counts), "users": sum(c > 0 for c in counts)}
        assert summary["removed"][kind] == want, kind
    union = {u: set().union(*(f.get(u, set()) for f in forbid.values())) - seen[u] for u in seen}
    frame = removed_frame(rules, data)
    assert dict(frame.iter_rows()) == {u: len(f) for u, f in union.items()}
    assert summary["total"]["candidates"] == sum(len(f) for f in union.values())


def test_the_rows_check_expects_fewer_rows_only_where_rules_remove_candidates():
    ratings = pl.DataFrame({"user_id": [1, 2], "item_id": [10, 10], "rating": [4.0, 4.0]})
    ratings = pl.concat([ratings, pl.DataFrame(
        {"user_id": [3], "item_id": [11], "rating": [3.0]})])  # fmt: skip
    recs = pl.DataFrame({"user_id": [1, 3], "rank": [1, 1], "item_id": [11, 10],
                         "score": [1.0, 1.0]})  # fmt: skip
    assert "rows_per_user" in recommendation_problems(recs, ratings, 5)  # user 2 has none
    removed = pl.DataFrame({"user_id": [2], "removed": [1]})  # item 11 is forbidden to 2
    assert recommendation_problems(recs, ratings, 5, removed) == {}


def test_similar_items_never_list_an_excluded_item(ratings):
    model = EASE(reg=10.0).fit(ratings)
    exclude = np.zeros(model.data.n_items, dtype=bool)
    exclude[:3] = True
    table = similar_items(model, n=5, min_ratings=0, exclude=exclude)
    gone = model.data.items.raw(np.arange(3))
    assert not table["similar_item_id"].is_in(gone.implode()).any()
    assert table["item_id"].n_unique() == model.data.n_items
    assert similar_items_problems(table, ratings["item_id"], 5, gone) == {}
    plain = similar_items(model, n=5, min_ratings=0)
    assert "excluded" in similar_items_problems(plain, ratings["item_id"], 5, gone)
