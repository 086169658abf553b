"""The report page: one self-contained HTML file (inline SVG charts, inline CSS, no
JavaScript), and the Markdown summary shown on the Dagster materialization.

Top first: the header (run, date, data, inputs, gate), the models, the trends, the
popularity of what we recommend, what the business rules removed, the genre mix and a sample of
lists in titles (with item metadata), user segments, similar items, the glossary, and the
settings collapsed.
"""

from __future__ import annotations

import html

from recsys_core.report import examples, sections
from recsys_core.report.format import fmt
from recsys_core.report.header import (
    files_summary,
    gate_rows,
    header_html,
    verdict,
    versus_baseline,
    versus_previous,
)
from recsys_core.report.inputs import GateCheck, ReportInputs
from recsys_core.report.tables import segment_table, table_at_k

__all__ = [
    "GateCheck",
    "ReportInputs",
    "build_report",
    "markdown_summary",
    "segment_table",
    "table_at_k",
]

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2rem}h2{border-bottom:1px solid #ddd}
.wide{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .6rem;vertical-align:top;overflow-wrap:anywhere}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;white-space:nowrap}
td.txt{text-align:left;max-width:40rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;overflow-wrap:anywhere}
.card b{font-size:1.1rem;display:block}
.verdict{font-size:1.3rem;font-weight:bold;padding:.4rem .8rem;border-radius:6px}
.verdict.pass{background:#e6f4ea;color:#1e6b34}.verdict.fail{background:#fde7e7;color:#a11}
.trends{display:flex;flex-wrap:wrap;gap:.5rem}.trend{margin:0}
figcaption{font-size:.8rem;color:#555}svg{max-width:100%;height:auto}
dt{font-weight:bold}dd{margin:0 0 .4rem 1.5rem}
details.settings summary{cursor:pointer;font-weight:bold}
"""


def build_report(inputs: ReportInputs) -> str:
    """The whole page as a string."""
    body = "\n".join(
        [
            header_html(inputs),
            sections.models(inputs),
            sections.trends(inputs),
            sections.popularity(inputs),
            sections.rules(inputs),
            examples.genre_mix(inputs),
            examples.sample_lists(inputs),
            sections.segments(inputs),
            sections.similar(inputs),
            examples.similar_titles(inputs),
            sections.glossary(inputs),
            sections.settings(inputs),
        ]
    )
    title = html.escape(f"recsys report {inputs.run_id}")
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )


def markdown_summary(inputs: ReportInputs) -> str:
    """The header as Markdown: run, date, data, gate verdict with each check, and the
    headline NDCG@k beside popularity."""
    lines = [
        f"**Run** `{inputs.run_id}` · {fmt(inputs.generated_at)} · data `{inputs.data_root}`",
        "",
        f"**Data:** {files_summary(inputs)}; {fmt(inputs.quarantined)} row(s) quarantined",
        "",
        f"**Gate: {verdict(inputs)}**",
        "",
        f"**NDCG@{inputs.k}:** {versus_baseline(inputs)}; {versus_previous(inputs)}",
        "",
        "| check | result | observed | threshold | margin |",
        "|---|---|---|---|---|",
    ]
    for name, result, observed, threshold, margin, _ in gate_rows(inputs.gate):
        lines.append(f"| {name} | {result} | {fmt(observed)} | {fmt(threshold)} | {margin} |")
    return "\n".join(lines)
