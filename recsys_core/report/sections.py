"""The report's sections below the header, each a function of :class:`ReportInputs` returning
an HTML fragment."""

from __future__ import annotations

import html

import polars as pl

from recsys_core.ranking.removed import KINDS
from recsys_core.report import charts
from recsys_core.report.format import fmt, html_table
from recsys_core.report.glossary import GLOSSARY
from recsys_core.report.inputs import ReportInputs, flatten, settings_diff
from recsys_core.report.tables import segment_table, table_at_k

__all__ = ["glossary", "models", "popularity", "rules", "segments", "settings", "trends"]

DIFF_HEADER = ("setting", "this run", "default")
TREND_RUNS = 30
TRENDS = (
    ("ndcg", "NDCG@k"),
    ("coverage", "catalogue coverage"),
    ("users", "users with a list"),
    ("rows", "input rows"),
    ("seconds", "run time (seconds)"),
)


def models(inputs: ReportInputs) -> str:
    """Every model at k beside the popularity baseline, and the curves over k."""
    k = inputs.k
    return "\n".join(
        [
            f"<h2>Models compared (test split, k={k})</h2>",
            f"<p>The popularity baseline is grey; the published lists come from "
            f"<b>{html.escape(inputs.model)}</b>. Terms are explained in the "
            "<a href='#glossary'>glossary</a>.</p>",
            _implicit_note(inputs),
            charts.model_comparison(inputs.metrics, k),
            html_table(table_at_k(inputs.metrics, k)),
            "<h2>Quality at every list length</h2>",
            charts.curves(inputs.metrics),
        ]
    )


def _implicit_note(inputs: ReportInputs) -> str:
    if inputs.settings.get("ingest", {}).get("feedback") != "implicit":
        return ""
    return (
        "<p><b>Implicit feedback</b> (ingest.feedback: implicit): the inputs are interactions, "
        "not ratings, so every held-out interaction is relevant and the rating predictors "
        "(biased_mf, rating_blend) and RMSE/MAE are not evaluated.</p>"
    )


def last_runs(trends: pl.DataFrame, n: int = TREND_RUNS) -> pl.DataFrame:
    """The newest ``n`` runs, oldest first."""
    return trends.sort("date").tail(n)


def trends(inputs: ReportInputs) -> str:
    """One small chart per tracked number over the last runs of this data root."""
    runs = last_runs(inputs.trends)
    if runs.height == 0:
        return "<h2>Trends</h2><p>No run records yet.</p>"
    figures = []
    for column, title in TRENDS:
        latest = runs.get_column(column)[-1]
        figures.append(
            f"<figure class='trend'>{charts.trend(runs, column, title)}"
            f"<figcaption>{html.escape(title)}: latest {html.escape(fmt(latest))}"
            "</figcaption></figure>"
        )
    return (
        f"<h2>Trends</h2><p>The last {runs.height} run(s) of this data root "
        f"(at most {TREND_RUNS}), one point per run, oldest left.</p>"
        f"<div class='trends'>{''.join(figures)}</div>"
    )


def popularity(inputs: ReportInputs) -> str:
    """How the published lists spread over the catalogue, and which model filled them."""
    sources = inputs.published.group_by("source").len()
    sources = sources.sort(["len", "source"], descending=[True, False])
    return "\n".join(
        [
            "<h2>Popularity of what we recommend</h2>",
            "<p>How the published lists spread over the catalogue, from the most rated items "
            "to the long tail, against how the training ratings spread.</p>",
            charts.popularity_profile(inputs.published, inputs.train_items),
            html_table(sources.rename({"len": "published rows"})),
        ]
    )


def segments(inputs: ReportInputs) -> str:
    """NDCG@k per user segment."""
    return "\n".join(
        [
            f"<h2>Who is served well: NDCG@{inputs.k} by user segment</h2>",
            "<p>cold: fewer than 5 training ratings; heavy: the 10% most active; "
            "warm: the rest.</p>",
            html_table(segment_table(inputs.metrics, inputs.k)),
        ]
    )


LAST_ITEM = "last_item"
"""Metrics segment of the similar-items evaluation (the user's last rated item -> its list)."""


def similar(inputs: ReportInputs) -> str:
    """The similar-items table's own evaluation beside popularity's (empty when not evaluated)."""
    rows = inputs.metrics.filter(
        (pl.col("segment") == LAST_ITEM) & (pl.col("k") == inputs.k)
    ).pivot(on="metric", index="model", values="value", aggregate_function="first")
    if rows.height == 0:
        return ""
    return "\n".join(
        [
            f"<h2>Similar items: the last rated item's list, NDCG@{inputs.k}</h2>",
            "<p>For each test user, the similar items of the item they rated last in training, "
            "taken as a top-k list and scored on their test ratings, beside the most popular "
            "items for the same users.</p>",
            html_table(rows.sort("model")),
        ]
    )


RULE_HEADER = ("rule", "files", "rows", "rows with unknown ids (ignored)",
               "candidates removed", "users affected")  # fmt: skip


def rules(inputs: ReportInputs) -> str:
    """What the business rules in ``rules/`` removed (empty when the run had none)."""
    summary = inputs.rules
    if not summary:
        return ""
    files, removed = summary.get("files", {}), summary.get("removed", {})
    rows = []
    for kind, names in KINDS.items():
        present = [n for n in names if n in files]
        if present:
            read = [files[n] for n in present]
            done = removed.get(kind, {})
            rows.append((kind, ", ".join(present), sum(f.get("rows", 0) for f in read),
                         sum(f.get("unknown_id_rows", 0) for f in read),
                         done.get("candidates", 0), done.get("users", 0)))  # fmt: skip
    total = summary.get("total", {})
    rows.append(("all rules", "", None, None, total.get("candidates"), total.get("users")))
    notes = [
        f"<li>{html.escape(name)}: {html.escape(_note(seen))}</li>"
        for name, seen in files.items()
        if _note(seen)
    ]
    return "\n".join(
        [
            "<h2>Business rules</h2>",
            "<p>Applied inside the top-N: an excluded item is removed from the user's "
            "candidates before ranking, so every user still gets N items while enough allowed "
            "candidates remain; the blocking check <code>recommendations:business_rules</code> "
            "proves no excluded item was published. A candidate is an item the user has not "
            "rated; each rule kind is counted alone, 'all rules' once. The evaluation judges the "
            "models without the rules.</p>",
            html_table(rows, RULE_HEADER),
            f"<ul>{''.join(notes)}</ul>" if notes else "",
        ]
    )


def _note(seen: dict) -> str:
    parts = []
    if seen.get("unknown_id_rows"):
        examples = "; ".join(
            ", ".join(f"{k}={v}" for k, v in row.items()) for row in seen.get("examples", [])
        )
        parts.append(f"{seen['unknown_id_rows']} row(s) with unknown ids, e.g. {examples}")
    if "ignored" in seen:
        parts.append(f"ignored: {seen['ignored']}")
    if seen.get("segments_without_allowed_items"):
        without = ", ".join(seen["segments_without_allowed_items"])
        parts.append(f"segments without allowed items (unrestricted): {without}")
    return "; ".join(parts)


def glossary(inputs: ReportInputs) -> str:
    """Each metric in one sentence."""
    items = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(text)}</dd>"
        for name, text in GLOSSARY.items()
    )
    return f"<h2 id='glossary'>Glossary</h2><dl class='glossary'>{items}</dl>"


def settings(inputs: ReportInputs) -> str:
    """A collapsed block: the settings that differ from the defaults, then the values the
    night's tuning chose."""
    changed = settings_diff(inputs.settings, inputs.defaults)
    chosen = sorted(flatten(inputs.chosen).items())
    summary = (
        f"Settings differing from the defaults: {len(changed)}; "
        f"values chosen by tonight's tuning: {len(chosen)}"
    )
    body = [
        "<h3>Differ from the defaults</h3>",
        html_table([(k, _value(v), _value(d)) for k, v, d in changed], DIFF_HEADER)
        if changed
        else "<p>None: every setting is at its default.</p>",
        "<h3>Chosen tonight</h3>",
        html_table([(k, _value(v)) for k, v in chosen], ("value", "chosen"))
        if chosen
        else "<p>Nothing was tuned in this run.</p>",
    ]
    return (
        f"<h2>Settings</h2><details class='settings'><summary>{html.escape(summary)}</summary>"
        + "\n".join(body)
        + "</details>"
    )


def _value(value) -> str:
    return fmt(value) if not isinstance(value, str) else repr(value) if value == "" else value
