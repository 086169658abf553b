"""Business rules and item metadata through the pipeline: one night on small random ratings
with every rule kind in ``rules/`` and an items file in ``items/``, checked against what the
rules say (brute-force sets over the raw ratings, never the code under test)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from upath import UPath

from pipeline.automation import NIGHTLY
from pipeline.checks import recommendation_checks
from pipeline.definitions import ASSETS, CHECKS, resources
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core.data.items import find_items_file, read_items
from recsys_core.ranking.rules import read_rule_files
from recsys_core.report.format import fmt
from tests.conftest import ML100K, SMOKE, random_ratings
from tests.test_pipeline import run_settings, write_raw
from tests.test_report_run import Page, text_of

N = 10
"""What the nightly job materializes (the tuning job's grid search is not part of it)."""


def nightly(
    root: Path, sections: dict | None = None, smoke: bool = True
) -> dg.ExecuteInProcessResult:
    """One nightly run on ``root`` in-process, with ``sections`` over the SMOKE settings."""
    sections = sections or {}
    if smoke:
        sections = {**sections, **{k: {**v, **sections.get(k, {})} for k, v in SMOKE.items()}}
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*ASSETS, *CHECKS],
            selection=NIGHTLY,
            instance=instance,
            resources=resources(str(root)),
            run_config=run_settings(sections),
            raise_on_error=False,
        )


RATINGS = random_ratings(n_users=40, n_items=60, density=0.3, seed=2)
ITEMS = sorted(RATINGS["item_id"].unique().to_list())
POPULAR = (
    RATINGS.group_by("item_id")
    .len()
    .sort(["len", "item_id"], descending=[True, False])
    .head(5)["item_id"]
    .to_list()
)
PAIRS_USER, PAIRS = 1, list(range(101, 131))  # user 1 may see nothing from the first half
SEGMENTS = {"kids": list(range(126, 151)), "small": list(range(146, 152))}
MEMBERS = {2: "kids", 3: "kids", 4: "small", 5: "adults"}  # adults: no allowed list


def rated(user: int) -> set[int]:
    return set(RATINGS.filter(pl.col("user_id") == user)["item_id"])


def forbidden(user: int) -> set[int]:
    """Every item a rule forbids to ``user``."""
    out = set(POPULAR) | (set(PAIRS) if user == PAIRS_USER else set())
    segment = MEMBERS.get(user)
    if segment in SEGMENTS:
        out |= set(ITEMS) - set(SEGMENTS[segment])
    return out


def candidates(user: int) -> set[int]:
    return set(ITEMS) - rated(user) - forbidden(user)


def write_rules(root: Path) -> None:
    rules = root / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    items = [str(i) for i in POPULAR] + ["99999", "007"]  # two unknown ids
    (rules / "exclude_items.csv").write_text("item_id\n" + "\n".join(items) + "\n")
    pairs = [f"{PAIRS_USER},{i}" for i in PAIRS] + ["555,101"]  # an unknown user
    (rules / "exclude_pairs.csv").write_text("user_id,item_id\n" + "\n".join(pairs) + "\n")
    allowed = [f"{s},{i}" for s, items in SEGMENTS.items() for i in items]
    (rules / "allowed_items.csv").write_text("segment,item_id\n" + "\n".join(allowed) + "\n")
    members = [f"{u},{s}" for u, s in MEMBERS.items()]
    (rules / "user_segments.csv").write_text("user_id,segment\n" + "\n".join(members) + "\n")


def write_items(root: Path) -> None:
    (root / "items").mkdir(parents=True, exist_ok=True)
    genres = ["Drama", "Comedy|Drama", "Action", "Sci-Fi|Action"]
    pl.DataFrame(
        {
            "movieId": ITEMS,
            "title": [f"Film {i}" for i in ITEMS],
            "genres": [genres[i % 4] for i in ITEMS],
        }
    ).write_csv(root / "items" / "movies.csv")


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ruled")
    write_raw(root, RATINGS)
    write_rules(root)
    write_items(root)
    result = nightly(root)
    published = root / "published"
    return {
        "root": root,
        "result": result,
        "lists": pl.read_parquet(published / "recommendations.parquet"),
        "similar": pl.read_parquet(published / "similar_items.parquet"),
        "record": json.loads((published / "run.json").read_text()),
        "page": (published / "report.html").read_text(encoding="utf-8"),
    }


def test_the_night_publishes_with_every_check_green(night):
    assert night["result"].success
    checks = {c.check_name: c.passed for c in night["result"].get_asset_check_evaluations()}
    assert checks["business_rules"] and all(checks.values()), checks


def test_every_user_keeps_min_n_candidates_and_no_rule_is_broken(night):
    lists = night["lists"]
    per_user = dict(lists.group_by("user_id").len().iter_rows())
    for user in RATINGS["user_id"].unique():
        got = set(lists.filter(pl.col("user_id") == user)["item_id"])
        assert not got & forbidden(user), f"user {user} got a forbidden item"
        assert per_user[user] == min(N, len(candidates(user))), user
    assert sum(n == N for n in per_user.values()) >= 38, "only the small segment is short"
    assert per_user[4] == len(candidates(4)) < N, "a segment with few items gives fewer"


def test_excluded_items_are_never_similar_items(night):
    similar = night["similar"]
    assert not similar["similar_item_id"].is_in(POPULAR).any()
    assert set(similar["item_id"]) == set(ITEMS), "an excluded item keeps its own rows"


def test_the_run_record_counts_what_each_rule_removed(night):
    rules = night["record"]["rules"]
    users = RATINGS["user_id"].unique().to_list()
    items_removed = sum(len(set(POPULAR) - rated(u)) for u in users)
    pairs_removed = len(set(PAIRS) - rated(PAIRS_USER))
    segments_removed = sum(
        len(set(ITEMS) - set(SEGMENTS[s]) - rated(u)) for u, s in MEMBERS.items() if s in SEGMENTS
    )
    assert rules["removed"]["exclude_items"] == {"candidates": items_removed, "users": 40}
    assert rules["removed"]["exclude_pairs"] == {"candidates": pairs_removed, "users": 1}
    assert rules["removed"]["segments"] == {"candidates": segments_removed, "users": 3}
    union = sum(len(forbidden(u) - rated(u)) for u in users)
    assert rules["total"] == {"candidates": union, "users": 40}
    files = rules["files"]
    assert files["exclude_items.csv"]["unknown_id_rows"] == 2
    assert {"item_id": "007"} in files["exclude_items.csv"]["examples"]
    assert files["exclude_pairs.csv"]["unknown_id_rows"] == 1
    assert files["user_segments.csv"]["segments_without_allowed_items"] == ["adults"]


def test_the_report_shows_the_counts_and_the_unknown_ids(night):
    rules, page = night["record"]["rules"], Page(night["page"])
    rows = {r[0]: r for r in page.table("rule", "files", "rows", "rows with unknown ids (ignored)")}
    removed = rules["removed"]
    assert rows["exclude_items"][2:] == [
        "7",
        "2",
        fmt(removed["exclude_items"]["candidates"]),
        "40",
    ]
    assert rows["exclude_pairs"][4] == fmt(removed["exclude_pairs"]["candidates"])
    assert rows["segments"][1] == "allowed_items.csv, user_segments.csv"
    assert rows["all rules"][4] == fmt(rules["total"]["candidates"])
    text = text_of(night["page"])
    assert "2 row(s) with unknown ids, e.g. item_id=99999; item_id=007" in text
    assert "segments without allowed items (unrestricted): adults" in text


def test_the_report_shows_titles_and_the_genre_mix(night):
    lists, page = night["lists"], night["page"]
    text = text_of(page)
    assert "A sample of the published lists" in text and "Genre mix" in text
    shown = [u for u in RATINGS["user_id"].unique().sort() if f"User {u} " in text]
    assert len(shown) == 3
    for item in lists.filter(pl.col("user_id") == shown[0])["item_id"]:
        assert f"Film {item}" in text
    assert "share of genre labels" in page, "the genre chart is drawn"
    assert "Similar items of the most rated items" in text
    top = POPULAR[0]
    assert f"{top}: Film {top}" in text


def test_the_check_fails_when_a_published_item_is_excluded(night):
    """The night's lists against its rules plus one pair they break: the blocking
    business_rules check (called as the pipeline defines it) fails naming that row."""
    root, lists = night["root"], night["lists"]
    user, item = lists.row(0)[0], lists.row(0)[2]
    snapshot = pl.read_parquet(root / "warehouse" / "business_rules.parquet")
    broken = pl.concat([snapshot, pl.DataFrame(
        [("exclude_pairs.csv", str(user), str(item), None)], schema=snapshot.schema, orient="row"
    )])  # fmt: skip
    ratings = pl.read_parquet(root / "warehouse" / "ratings.parquet")
    settings = RecsysSettings(data_root=DataRoot(root=str(root)))
    results = {
        r.check_name: r
        for r in recommendation_checks(
            settings=settings, recommendations=lists, ratings=ratings, business_rules=broken
        )
    }
    failed = {name for name, r in results.items() if not r.passed}
    assert failed == {"business_rules"}, failed
    assert f"({user}, {item})" in results["business_rules"].metadata["problem"].value


def test_rules_and_items_read_from_an_object_store_root(tmp_path):
    store = UPath("memory://recsys-test-rules")
    (store / "rules").mkdir(parents=True, exist_ok=True)
    (store / "rules" / "exclude_items.csv").write_text("item_id\n101\n")
    (store / "items").mkdir(parents=True, exist_ok=True)
    (store / "items" / "movies.csv").write_text("movieId,title,genres\n101,Film,Drama\n")
    snapshot = read_rule_files(store / "rules")
    assert snapshot.select("file", "item_id").rows() == [("exclude_items.csv", "101")]
    found = find_items_file(store / "items")
    assert found is not None and read_items(found).rows() == [(101, "Film", ["Drama"])]


SHARED_MOVIES = ML100K.parent / "movies.csv"


@pytest.mark.slow
@pytest.mark.ml100k
def test_ml100k_without_the_20_most_popular_items(tmp_path):
    """The acceptance night: ML-100k, rules/exclude_items.csv holding its 20 most rated items,
    items/movies.csv its titles. No list holds them, every user keeps N, the check is green,
    the report counts what the rule removed and shows titles; the similar-items table still
    covers every item, and its evaluation sits beside popularity's."""
    if not (ML100K.exists() and SHARED_MOVIES.exists()):
        pytest.skip("ml-100k not available")
    (tmp_path / "raw").mkdir()
    shutil.copy(ML100K, tmp_path / "raw" / "u.data")
    (tmp_path / "items").mkdir()
    shutil.copy(SHARED_MOVIES, tmp_path / "items" / "movies.csv")
    ratings = pl.read_csv(
        ML100K, separator="\t", has_header=False, new_columns=["u", "i", "r", "t"]
    )
    counts = ratings.group_by("i").len().sort(["len", "i"], descending=[True, False])
    top20 = counts.head(20)["i"].to_list()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "exclude_items.csv").write_text(
        "item_id\n" + "\n".join(map(str, top20)) + "\n"
    )
    result = nightly(tmp_path, {"publish": {"min_lift": 1.5}})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    published = tmp_path / "published"
    lists = pl.read_parquet(published / "recommendations.parquet")
    assert not lists["item_id"].is_in(top20).any()
    per_user = lists.group_by("user_id").len()
    assert per_user.height == 943 and (per_user["len"] == N).all()
    raters = dict(counts.iter_rows())
    expected = sum(943 - raters[i] for i in top20)  # every user who has not rated it
    seen_all = ratings.filter(pl.col("i").is_in(top20)).group_by("u").len()["len"].eq(20).sum()
    record = json.loads((published / "run.json").read_text())
    removed = record["rules"]["removed"]["exclude_items"]
    assert removed == {"candidates": expected, "users": 943 - seen_all}
    page = (published / "report.html").read_text(encoding="utf-8")
    rows = {r[0]: r for r in Page(page).table("rule", "files", "rows")}
    assert rows["exclude_items"][4] == fmt(expected)
    text = text_of(page)
    titles = pl.read_csv(SHARED_MOVIES, infer_schema=False)
    first = lists.filter(pl.col("user_id") == 1).sort("rank")["item_id"][0]
    assert titles.filter(pl.col("id") == str(first))["title"].item() in text
    similar = pl.read_parquet(published / "similar_items.parquet")
    assert similar["item_id"].n_unique() == ratings["i"].n_unique()
    assert not similar["similar_item_id"].is_in(top20).any()
    assert "Similar items: the last rated item's list" in text
    print(f"ML-100k top-20 excluded: {expected} candidates removed")
