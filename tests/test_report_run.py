"""What people see: the published report of real pipeline runs, checked against the run's own
published files (``metrics.parquet``, ``run.json``) and the raw files, over three nights on one
data root (the third with a second raw file, so the inputs change)."""

from __future__ import annotations

import html
import json
import re
import shutil
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipeline.automation import NIGHTLY
from pipeline.definitions import ASSETS, CHECKS, resources
from recsys_core.data.synthetic import generate_ratings
from recsys_core.report.format import fmt, signed

RUN_CONFIG = {
    "resources": {
        "settings": {
            "config": {
                "publish": {
                    "min_lift": 1.0,
                    "allow_changes": ["rows_drop", "users_drop", "ratings_drop"],
                }
            }
        }
    }
}
RUNS = 3
TREND_CHARTS = 5
TREND_GROUP = re.compile(r'<g id="trend-points">(.*?)(?=<g id="patch_|</svg>)', re.S)


class Page(HTMLParser):
    """The tables (rows of cell texts, header row first) and glossary terms of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.terms: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._dt: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "dt":
            self._dt = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "dt" and self._dt is not None:
            self.terms.append("".join(self._dt).strip())
            self._dt = None

    def handle_data(self, data):
        for part in (self._cell, self._dt):
            if part is not None:
                part.append(data)

    def table(self, *header: str, body: bool = True) -> list[list[str]]:
        """The one table whose header row starts with ``header``: its body rows (or all)."""
        found = [t for t in self.tables if t and tuple(t[0][: len(header)]) == header]
        assert len(found) == 1, f"{len(found)} tables headed {header!r}"
        return found[0][1:] if body else found[0]


def text_of(page: str) -> str:
    """The page's text without its charts, entities decoded, whitespace collapsed."""
    no_svg = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", no_svg)).split())


def headline(metrics: pl.DataFrame, model: str, k: int = 10, name: str = "ndcg") -> float:
    row = metrics.filter(
        (pl.col("model") == model)
        & (pl.col("metric") == name)
        & (pl.col("k") == k)
        & (pl.col("segment") == "all")
    )
    assert row.height == 1, f"{model} {name}@{k}: {row.height} rows in metrics.parquet"
    return row["value"][0]


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Three runs on one tiny data root; per run: result, report, run record, metrics, the
    raw files' row counts."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "raw"
    raw.mkdir()
    # people rate what suits them (as in real data), so the hybrid can beat popularity
    generate_ratings(40, 60, 720, seed=1, taste_selection=8.0).write_csv(raw / "r.csv")
    seen = []
    with dg.instance_for_test() as instance:
        for night in range(RUNS):
            if night == RUNS - 1:  # new users, so the hybrid still clears the gate
                extra = generate_ratings(40, 60, 720, seed=2, taste_selection=8.0)
                extra.with_columns(pl.col("user_id") + 1000).write_csv(raw / "s.csv")
            result = dg.materialize(
                [*ASSETS, *CHECKS],
                selection=NIGHTLY,
                instance=instance,
                resources=resources(str(root)),
                run_config=RUN_CONFIG,
                raise_on_error=False,
            )
            published = root / "published"
            copy = root.parent / f"{root.name}-night{night}"
            if published.exists():
                shutil.copytree(published, copy)
            seen.append(
                {
                    "success": result.success,
                    "run_id": result.run_id,
                    "html": (copy / "report.html").read_text(encoding="utf-8")
                    if (copy / "report.html").exists()
                    else "",
                    "record": json.loads((copy / "run.json").read_text())
                    if (copy / "run.json").exists()
                    else {},
                    "metrics": pl.read_parquet(copy / "metrics.parquet")
                    if (copy / "metrics.parquet").exists()
                    else None,
                    "raw_rows": {p.name: pl.read_csv(p).height for p in sorted(raw.glob("*"))},
                }
            )
    return root, seen


@pytest.fixture(scope="module")
def last(nights) -> dict:
    return nights[1][-1]


@pytest.mark.slow
def test_every_night_published_its_own_report(nights):
    _, seen = nights
    for night, run in enumerate(seen):
        assert run["success"], f"night {night} failed"
        assert run["record"].get("run_id") == run["run_id"], f"night {night}: stale run.json"
        assert run["html"], f"night {night}: no report.html"
    assert len({run["run_id"] for run in seen}) == RUNS


@pytest.mark.slow
def test_header_names_run_date_and_data_root(nights, last):
    root, _ = nights
    record, page = last["record"], text_of(last["html"])
    assert record["data_root"] == str(root)
    assert f"run {last['run_id']}" in page
    assert f"<title>recsys report {last['run_id']}</title>" in last["html"]
    date = fmt(datetime.fromisoformat(record["date"]))
    assert f"run {last['run_id']} , {date}, data {record['data_root']}" in page, page[:300]
    assert f"date {date}" in page
    assert f"data root {record['data_root']}" in page


@pytest.mark.slow
def test_inputs_show_each_file_with_rows_and_the_change(nights):
    _, seen = nights
    first, second, third = seen
    for run in seen:  # run.json counts what the raw files hold
        assert run["record"]["inputs"] == run["raw_rows"]
    r_rows, s_rows = third["raw_rows"]["r.csv"], third["raw_rows"]["s.csv"]

    page = text_of(first["html"])
    assert f"1 file(s), {r_rows:,} rows; no previous run to compare with" in page
    assert Page(first["html"]).table("input file") == [["r.csv", f"{r_rows:,}", "\u2013"]]

    page = text_of(second["html"])
    assert f"1 file(s), {r_rows:,} rows; since the previous run: ±0 rows, same files" in page
    assert Page(second["html"]).table("input file") == [["r.csv", f"{r_rows:,}", "±0"]]

    page = text_of(third["html"])
    total = r_rows + s_rows
    assert (
        f"2 file(s), {total:,} rows; since the previous run: +{s_rows:,} rows, "
        f"1 file(s) added (s.csv: {s_rows:,} rows)"
    ) in page
    assert Page(third["html"]).table("input file") == [
        ["r.csv", f"{r_rows:,}", "±0"],
        ["s.csv", f"{s_rows:,}", "new"],
    ]


def gate_table(run: dict) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in Page(run["html"]).table("check")}


@pytest.mark.slow
def test_gate_shows_thresholds_and_margins_from_the_settings(nights):
    _, seen = nights
    for night in (1, 2):
        run, live = seen[night], seen[night - 1]
        gate = run["record"]["settings"]["publish"]
        ndcg = headline(run["metrics"], "hybrid")
        popularity = headline(run["metrics"], "popularity")
        live_ndcg = headline(live["metrics"], "hybrid")
        rows = gate_table(run)
        assert set(rows) == {"ndcg_floor", "ndcg_regression", "popularity_lift"}, rows
        bounds = {
            "ndcg_floor": gate["min_ndcg"],
            "ndcg_regression": live_ndcg - gate["max_ndcg_drop"],
            "popularity_lift": gate["min_lift"] * popularity,
        }
        for name, bound in bounds.items():
            result, observed, threshold, margin, _ = rows[name]
            assert (result, observed) == ("pass", fmt(ndcg)), (night, name, rows[name])
            assert threshold == fmt(bound), (night, name, threshold, bound)
            assert margin == signed(ndcg - bound), (night, name, margin)
        assert f"{gate['max_ndcg_drop']:.4f}" in rows["ndcg_regression"][-1]
        assert f"{gate['min_lift']:.2f} x" in rows["popularity_lift"][-1]
        assert "Gate: PASS (3/3 checks)" in text_of(run["html"])


@pytest.mark.slow
def test_gate_rows_name_the_setting_behind_each_threshold(last):
    """Whoever reads a failed gate needs the setting to change, not only its value."""
    rows = gate_table(last)
    wanted = {
        "ndcg_floor": "publish.min_ndcg",
        "ndcg_regression": "publish.max_ndcg_drop",
        "popularity_lift": "publish.min_lift",
    }
    missing = {check: s for check, s in wanted.items() if s not in " ".join(rows[check])}
    assert not missing, f"gate rows that do not name their setting: {missing}"


@pytest.mark.slow
def test_headline_ndcg_beside_popularity_as_printed(nights):
    _, seen = nights
    for run in seen:
        ndcg = headline(run["metrics"], "hybrid")
        popularity = headline(run["metrics"], "popularity")
        assert run["record"]["ndcg"] == pytest.approx(ndcg)
        change = signed(ndcg - popularity)
        card = f"NDCG@10 hybrid {ndcg:.4f} vs popularity {popularity:.4f} ({change})"
        assert card in text_of(run["html"])
        models = {row[0]: row for row in Page(run["html"]).table("model", "ndcg")}
        assert models["hybrid"][1] == f"{ndcg:.4f}"
        assert models["popularity"][1] == f"{popularity:.4f}"
    before, now = headline(seen[1]["metrics"], "hybrid"), headline(seen[2]["metrics"], "hybrid")
    previous = f"{signed(now - before)} vs the previous run ({seen[1]['run_id']})"
    assert f"against the previous run {previous}" in text_of(seen[2]["html"])


@pytest.mark.slow
def test_settings_block_shows_the_tuned_weights(last):
    weights = last["record"]["chosen"]["hybrid"]["weights"]
    assert weights, "run.json chose no hybrid weights"
    block = re.search(r"<details class='settings'>(.*?)</details>", last["html"], re.S)
    assert block, "no settings <details> block"
    chosen = {row[0]: row[1] for row in Page(block.group(1)).table("value")}
    for name, weight in weights.items():
        assert chosen.get(f"hybrid.weights.{name}") == fmt(weight), (name, weight, chosen)
    changed = {row[0]: row[1] for row in Page(block.group(1)).table("setting")}
    assert changed["publish.min_lift"] == fmt(1.0)


def trend_points(page: str) -> list[int]:
    """Markers per trend chart (matplotlib draws one ``<use>`` per plotted point)."""
    trends = page[page.index("<h2>Trends</h2>") : page.index("<h2>Popularity")]
    return [group.count("<use ") for group in TREND_GROUP.findall(trends)]


@pytest.mark.slow
def test_trends_have_one_point_per_run(nights):
    _, seen = nights
    for night, run in enumerate(seen, start=1):
        assert trend_points(run["html"]) == [night] * TREND_CHARTS, night
        assert f"The last {night} run(s) of this data root" in text_of(run["html"])
    record, page = seen[-1]["record"], text_of(seen[-1]["html"])
    assert f"NDCG@k: latest {fmt(record['ndcg'])}" in page
    assert f"catalogue coverage: latest {fmt(record['coverage'])}" in page
    assert f"users with a list: latest {fmt(record['users'])}" in page
    assert f"input rows: latest {fmt(sum(record['inputs'].values()))}" in page


@pytest.mark.slow
def test_glossary_explains_every_metric_shown(last):
    page = Page(last["html"])
    terms = page.terms
    shown = set(page.table("model", "ndcg", body=False)[0][1:])  # the models table's columns
    assert {"ndcg", "precision", "coverage"} <= shown
    assert shown <= set(last["metrics"]["metric"].unique())
    assert shown <= set(terms), f"metrics without a glossary entry: {shown - set(terms)}"
    assert len(terms) == len(set(terms))
