"""The report page: one self-contained HTML file (inline SVG charts, inline CSS), and the
Markdown summary shown on the Dagster materialization."""

from __future__ import annotations

import html
import json
from typing import Any

import polars as pl

from recsys_core.report import charts

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2rem}h2{border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.card b{font-size:1.4rem;display:block}
pre{background:#f7f7f7;padding:.6rem;font-size:.8rem;overflow:auto}.wide{overflow-x:auto}
"""

SUMMARY_METRICS = ("ndcg", "precision", "recall", "map", "hit", "coverage", "novelty",
                   "popularity_bias", "exposure_gini", "cold_item_recall")  # fmt: skip


def table_at_k(metrics: pl.DataFrame, k: int) -> pl.DataFrame:
    """Model x metric at ``k`` (all users), plus RMSE/MAE, models sorted by NDCG."""
    at_k = metrics.filter(
        (pl.col("segment") == "all") & ((pl.col("k") == k) | pl.col("k").is_null())
    )
    wide = at_k.pivot(on="metric", index="model", values="value", aggregate_function="first")
    cols = [
        c for c in ("ndcg", "precision", "recall", "map", "hit", "rmse", "mae") if c in wide.columns
    ]
    rest = [c for c in SUMMARY_METRICS if c in wide.columns and c not in cols]
    return wide.select("model", *cols, *rest).sort("ndcg", descending=True, nulls_last=True)


def segment_table(metrics: pl.DataFrame, k: int) -> pl.DataFrame:
    """Model x segment NDCG@k (and the number of users per segment)."""
    seg = metrics.filter((pl.col("k") == k) & pl.col("segment").str.ends_with("_users"))
    ndcg = seg.filter(pl.col("metric") == "ndcg").pivot(on="segment", index="model", values="value")
    users = seg.filter(pl.col("metric") == "users").group_by("segment").agg(pl.col("value").first())
    names = {s: f"{s} (n={int(v)})" for s, v in users.iter_rows()}
    return ndcg.rename({s: names.get(s, s) for s in ndcg.columns if s != "model"})


def _html_table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        cells = []
        for v in row:
            cells.append(
                f"<td>{v:.4f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='wide'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def markdown_summary(metrics: pl.DataFrame, k: int, gate_model: str = "hybrid") -> str:
    """Short Markdown: the headline and the model table at ``k``."""
    table = table_at_k(metrics, k).select(
        "model",
        *[
            c
            for c in ("ndcg", "precision", "recall", "rmse")
            if c in table_at_k(metrics, k).columns
        ],
    )
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.iter_rows():
        lines.append(
            "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    best = table.row(0, named=True)
    head = f"**{best['model']}** leads with NDCG@{k} {best['ndcg']:.3f}"
    return head + f" (gate model: {gate_model}).\n\n" + "\n".join(lines)


def run_summary(
    run_id: str, ratings: pl.DataFrame, quarantine: pl.DataFrame, lists: pl.DataFrame, n: int
) -> dict[str, Any]:
    """The report's headline cards: the run, the data and the lists."""
    return {
        "run_id": run_id,
        "ratings": f"{ratings.height:,}",
        "users": f"{ratings['user_id'].n_unique():,}",
        "items": f"{ratings['item_id'].n_unique():,}",
        "quarantined rows": f"{quarantine.height:,}",
        "lists published": f"{lists['user_id'].n_unique():,} x {n}",
    }


def build_report(
    metrics: pl.DataFrame,
    published: pl.DataFrame,
    train: pl.DataFrame,
    summary: dict[str, Any],
    settings: dict[str, Any],
    k: int = 10,
) -> str:
    """The whole page as a string."""
    run_id = html.escape(str(summary.get("run_id", "")))
    cards = "".join(
        f"<div class='card'>{html.escape(label)}<b>{html.escape(str(value))}</b></div>"
        for label, value in summary.items()
        if label != "run_id"
    )
    sources = published.group_by("source").len().sort("len", descending=True)
    sections = [
        f"<h1>recsys run report</h1><p class='sub'>run {run_id}</p>",
        f"<div class='cards'>{cards}</div>",
        f"<h2>Models compared (test split, k={k})</h2>",
        "<p>The popularity baseline is grey; the published lists come from the hybrid.</p>",
        charts.model_comparison(metrics, k),
        _html_table(table_at_k(metrics, k)),
        "<h2>Quality at every list length</h2>",
        charts.curves(metrics),
        "<h2>Popularity of what we recommend</h2>",
        "<p>How the published lists spread over the catalogue, from the most rated items to the "
        "long tail, against how the training ratings spread.</p>",
        charts.popularity_profile(published, train),
        _html_table(sources.rename({"len": "published rows"})),
        f"<h2>Who is served well: NDCG@{k} by user segment</h2>",
        "<p>cold: fewer than 5 training ratings; heavy: the 10% most active; warm: the rest.</p>",
        _html_table(segment_table(metrics, k)),
        "<h2>Run parameters</h2>",
        f"<pre>{html.escape(json.dumps(settings, indent=2, sort_keys=True))}</pre>",
    ]
    body = "\n".join(sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>recsys report</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )
