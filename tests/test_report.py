"""The report page and its Markdown summary, rendered from constructed inputs: every number a
reader sees is checked against the inputs it came from."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from recsys_core.publish.files import write_json_atomic
from recsys_core.publish.history import RUN_RECORD, run_record
from recsys_core.publish.history import records as load_run_records
from recsys_core.report.charts import TREND_GID
from recsys_core.report.format import MISSING, fmt
from recsys_core.report.glossary import GLOSSARY
from recsys_core.report.html import build_report, markdown_summary, table_at_k
from recsys_core.report.inputs import (
    ReportInputs,
    file_changes,
    quality_gate_checks,
    settings_diff,
)
from recsys_core.report.records import previous_files, trends_frame
from recsys_core.report.refresh import refresh_entry, with_refreshes

K = 10
CURVE_KS = (1, 5, 10, 20)
NDCG = {"hybrid": 0.2345, "item_knn": 0.2101, "popularity": 0.1502}
START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
ROOT = "/data/movielens"
TERMS = ("precision", "recall", "ndcg", "map", "hit", "coverage", "novelty", "popularity_bias",
         "exposure_gini", "cold_item_recall", "rmse", "mae")  # fmt: skip


def metrics_frame() -> pl.DataFrame:
    rows = []
    for model, ndcg in NDCG.items():
        for k in CURVE_KS:
            rows += [(model, "ndcg", k, "all", ndcg * k / 10), (model, "precision", k, "all", 0.1)]
        rows += [(model, m, K, "all", 0.5) for m in ("recall", "coverage", "novelty")]
        rows += [(model, "rmse", None, "all", 0.95 if model != "popularity" else None)]
        rows += [
            (model, "ndcg", K, "cold_users", float("nan")),
            (model, "users", K, "cold_users", 0.0),
        ]
        rows += [(model, "ndcg", K, "warm_users", 0.2), (model, "users", K, "warm_users", 40.0)]
    return pl.DataFrame(rows, schema=["model", "metric", "k", "segment", "value"], orient="row")


def record(run_id: str, date: datetime, root: str, files: dict, users: int, seconds: float):
    return run_record(
        run_id, data_root=root, inputs=files, ratings=sum(files.values()), users=users,
        ndcg=NDCG["hybrid"], coverage=0.5, k=K, gate="passed", seconds=seconds, settings={},
        date=date,
    )  # fmt: skip


def records(n: int) -> list[dict]:
    """``n`` nightly records of ROOT (plus one of another root, which must not show)."""
    out = [
        record(f"run-{night}", START + timedelta(days=night), ROOT,
               {"u1.csv": 1000 + 10 * night, "u2.csv": 500}, 90 + night, 300.0 + night)
        for night in range(n)
    ]  # fmt: skip
    return [*out, record("elsewhere", START, "/data/other", {"x": 1}, 1, 1.0)]


SETTINGS = {
    "topn": {"n": 20, "block_size": None},
    "hybrid": {"weights": {"item_knn": 0.5, "pure_svd": 0.5}},
    "evaluation": {"k": 10, "threshold": 4.0},
}
DEFAULTS = {
    "topn": {"n": 10, "block_size": None},
    "hybrid": {"weights": {"item_knn": 0.5, "pure_svd": 0.5}},
    "evaluation": {"k": 10, "threshold": 4.0},
}
CHOSEN = {"weights": {"item_knn": 0.7, "pure_svd": 0.3}, "item_knn": {"k": 40}}


def make_inputs(nights: int = 3, **changes) -> ReportInputs:
    recs = records(nights)
    run = recs[nights - 1]
    published = pl.DataFrame(
        {
            "user_id": [1, 1, 2, 2],
            "item_id": [10, 11, 10, 12],
            "source": ["hybrid"] * 3 + ["popularity"],
        }
    )
    values = dict(
        run_id=run["run_id"],
        generated_at=datetime.fromisoformat(run["date"]),
        data_root=ROOT,
        files=[*run["inputs"].items(), ("u3.csv", 7)],
        previous_files=previous_files(recs, ROOT, run["run_id"]),
        quarantined=12,
        metrics=metrics_frame(),
        published=published,
        train_items=pl.DataFrame({"item_id": [10, 10, 11, 12, 13, 14]}),
        gate=quality_gate_checks(NDCG["hybrid"], live_ndcg=0.2400, min_ndcg=0.05, max_drop=0.05),
        trends=trends_frame(recs, ROOT),
        settings=SETTINGS,
        defaults=DEFAULTS,
        chosen=CHOSEN,
        k=K,
    )
    return ReportInputs(**(values | changes))


@pytest.fixture(scope="module")
def page() -> str:
    return build_report(make_inputs())


def section(page: str, title: str) -> str:
    """The HTML from the heading containing ``title`` to the next ``<h2``."""
    start = page.index(title)
    end = page.find("<h2", start + 1)
    return page[start : end if end >= 0 else len(page)]


def test_header_names_the_run_date_data_and_inputs(page):
    head = page[: page.index("Models compared")]
    assert "run-2" in head and "2026-11-30 02:00 UTC" in head and ROOT in head
    assert "u3.csv" in head and "new" in head  # a file added since the previous run
    assert "3 file(s), 1,527 rows" in head  # 1020 + 500 + 7
    assert "+17 rows" in head and "1 file(s) added (u3.csv: 7 rows)" in head
    assert ">12<" in head  # quarantined rows


def test_gate_shows_each_check_with_threshold_and_margin(page):
    gate = section(page, "Publish gate")
    floor = re.search(r"<tr><td class='txt'>ndcg_floor</td>(.*?)</tr>", gate).group(1)
    assert "pass" in floor and "0.2345" in floor and "0.0500" in floor and "+0.1845" in floor
    guard = re.search(r"<tr><td class='txt'>ndcg_regression</td>(.*?)</tr>", gate).group(1)
    assert "0.1900" in guard and "+0.0445" in guard  # live 0.24 - allowed drop 0.05
    assert "Gate: PASS (2/2 checks)" in page


def test_gate_rows_read_back_from_json_are_the_same_checks():
    checks = quality_gate_checks(0.2, live_ndcg=0.3, min_ndcg=0.05, max_drop=0.05)
    rows = json.loads(json.dumps([c._asdict() for c in checks]))
    assert make_inputs(gate=rows).gate == make_inputs(gate=checks).gate == tuple(checks)
    assert not checks[1].passed and checks[1].margin == pytest.approx(-0.05)


def test_failed_gate_is_the_verdict():
    checks = quality_gate_checks(0.04, live_ndcg=None, min_ndcg=0.05, max_drop=0.05)
    inputs = make_inputs(gate=checks)
    assert not inputs.passed
    page = build_report(inputs)
    assert "Gate: FAIL: ndcg_floor (1/2 checks passed)" in page
    assert "-0.0100" in section(page, "Publish gate")
    assert "no live run yet" in section(page, "Publish gate")


def test_models_table_holds_every_model_and_the_baseline(page):
    models = section(page, "Models compared")
    for model, ndcg in NDCG.items():
        assert f">{model}<" in models and f">{ndcg:.4f}<" in models
    assert "hybrid 0.2345 vs popularity 0.1502 (+0.0843)" in page
    assert "±0 vs the previous run (run-1)" in page  # every night had the same NDCG
    first = build_report(make_inputs(1))
    assert "first run of this data root" in first and "no previous run to compare with" in first


def test_curve_ticks_are_the_integer_ks(page):
    curves = section(page, "Quality at every list length")
    ticks = re.findall(r'<g id="xtick_\d+">.*?<text[^>]*>([^<]*)</text>', curves, re.S)
    assert ticks and set(ticks) == {str(k) for k in CURVE_KS}


def test_trends_have_one_point_per_run():
    for nights in (1, 3):
        trends = section(build_report(make_inputs(nights)), "<h2>Trends")
        charts = re.findall(r"<svg.*?</svg>", trends, re.S)
        assert len(charts) == 5  # ndcg, coverage, users, rows, seconds
        for chart in charts:
            points = re.search(rf'<g id="{TREND_GID}">(.*?)</g>', chart, re.S).group(1)
            assert points.count("<use ") == nights
    assert "latest 92" in trends  # users of the third night


def test_trends_keep_the_last_30_runs_of_this_root():
    frame = trends_frame(records(35)[::-1], ROOT)
    assert frame.height == 30 and frame["run_id"][-1] == "run-34"
    assert frame["date"].is_sorted() and "elsewhere" not in frame["run_id"]


def test_refreshes_stay_out_of_the_trends_and_get_their_own_section():
    nights = records(2)
    files = {"u1.csv": 1010, "u2.csv": 500, "day.csv": 7}
    refresh = record("refresh-1", START + timedelta(days=1, hours=9), ROOT, files, 95, 2.0)
    refresh |= {"kind": "refresh", "refresh": refresh_entry({"day.csv": 7}, 7, 3, 1, 2.0)}
    both = [*nights, refresh]
    assert trends_frame(both, ROOT).equals(trends_frame(nights, ROOT))
    assert previous_files(both, ROOT, "run-2") == [("u1.csv", 1010), ("u2.csv", 500)]
    page = with_refreshes("<h1>night</h1><h2>Inputs</h2>", "run-1", [refresh])
    assert page.index("Refreshes since the night") < page.index("<h2>Inputs</h2>")
    assert "day.csv (7 rows)" in page and ">refresh-1<" in page and "3 user lists" in page


def test_no_none_or_nan_anywhere(page):
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    assert not re.search(r"\b(None|nan|NaN|null)\b", text)
    assert MISSING in section(page, "Who is served well")  # the cold segment's NaN
    assert MISSING in section(page, "Models compared")  # popularity has no RMSE


def test_glossary_explains_every_metric(page):
    glossary = section(page, "Glossary")
    for term in TERMS:
        assert f"<dt>{term}</dt><dd>" in glossary and GLOSSARY[term]


def test_settings_block_shows_changes_and_chosen_values_only(page):
    block = re.search(r"<details class='settings'>(.*?)</details>", page, re.S).group(1)
    assert "topn.n" in block and ">20<" in block
    assert "weights.item_knn" in block and ">0.7000<" in block
    assert "item_knn.k" in block
    assert "evaluation.threshold" not in block and "topn.block_size" not in block
    assert "hybrid.weights" not in block  # the run kept the default weights
    assert page.index("<details") > page.index("Glossary")


def test_settings_diff_uses_dotted_paths():
    diff = settings_diff({"a": {"b": 1, "c": [1, 2]}, "d": 3}, {"a": {"b": 2, "c": (1, 2)}})
    assert diff == [("a.b", 1, 2), ("d", 3, None)]


def test_file_changes():
    change = file_changes([("a", 5), ("b", 3)], [("a", 4), ("c", 9)])
    assert change.added == [("b", 3)] and change.removed == [("c", 9)]
    assert change.changed == [("a", 1)] and change.rows == 8 - 13
    assert file_changes([("a", 5)], None) is None


def test_markdown_summary_is_the_header():
    md = markdown_summary(make_inputs())
    assert "`run-2`" in md and "2026-11-30 02:00 UTC" in md and ROOT in md
    assert "**Gate: PASS (2/2 checks)**" in md
    assert "| ndcg_floor | pass | 0.2345 | 0.0500 | +0.1845 |" in md
    assert "**NDCG@10:** hybrid 0.2345 vs popularity 0.1502" in md
    assert "None" not in md and "nan" not in md


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="popularity"):
        make_inputs(metrics=metrics_frame().filter(pl.col("model") != "popularity"))
    with pytest.raises(ValueError, match="time zone"):
        make_inputs(generated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="trends lacks"):
        make_inputs(trends=pl.DataFrame({"run_id": ["x"]}))


def test_page_is_self_contained(page):
    assert "<script" not in page and "src=" not in page and "href='http" not in page
    assert page.count("<svg") == 3 + 5  # comparison, curves, popularity + 5 trends


def test_table_at_k_still_serves_the_cli():
    table = table_at_k(metrics_frame(), K)
    assert table["model"].to_list() == ["hybrid", "item_knn", "popularity"]
    assert {"ndcg", "precision", "recall", "rmse", "coverage"} <= set(table.columns)


def test_fmt_numpy_values_like_python_ones():
    assert fmt(np.int64(12345)) == "12,345" and fmt(np.float32(0.5)) == "0.5000"
    assert fmt(np.float64("nan")) == MISSING and fmt(float("inf")) == "∞"


def test_fmt():
    assert [fmt(None), fmt(float("nan")), fmt(0.123456), fmt(12345), fmt(True)] == [
        MISSING, MISSING, "0.1235", "12,345", "yes"]  # fmt: skip


def test_run_records_round_trip_through_the_history(tmp_path):
    saved = records(3)
    for one in reversed(saved):
        write_json_atomic(one, tmp_path / "history" / one["run_id"] / RUN_RECORD)
    (tmp_path / "history" / "old-run-without-record").mkdir()
    loaded = load_run_records(tmp_path)
    assert [r["run_id"] for r in loaded] == ["elsewhere", "run-0", "run-1", "run-2"]
    assert trends_frame(loaded, ROOT).equals(trends_frame(saved, ROOT))
    assert previous_files(loaded, ROOT, "run-2") == [("u1.csv", 1010), ("u2.csv", 500)]
    assert previous_files(loaded, ROOT, "run-1") == [("u1.csv", 1000), ("u2.csv", 500)]
    assert previous_files(loaded, ROOT, "run-0") is None  # the first run of ROOT
    assert previous_files(loaded, ROOT, "run-9")[0] == ("u1.csv", 1020)  # not recorded yet
