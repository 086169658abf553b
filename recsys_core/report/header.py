"""The top of the report: which run, on what data, and whether the gate let it through.

Shared by the HTML page and the Markdown summary, so both say the same thing.
"""

from __future__ import annotations

import html

import polars as pl

from recsys_core.report.format import MISSING, fmt, html_table, signed
from recsys_core.report.inputs import GateCheck, ReportInputs, file_changes
from recsys_core.report.tables import headline

__all__ = [
    "files_summary",
    "gate_rows",
    "header_html",
    "verdict",
    "versus_baseline",
    "versus_previous",
]

GATE_HEADER = ("check", "result", "observed", "threshold", "margin", "detail")


def verdict(inputs: ReportInputs) -> str:
    """``PASS (2/2 checks)`` or ``FAIL: ndcg_floor (1/2 checks passed)``."""
    n, ok = len(inputs.gate), sum(c.passed for c in inputs.gate)
    if not inputs.gate:
        return "no gate checks recorded"
    if ok == n:
        return f"PASS ({n}/{n} checks)"
    failed = ", ".join(c.name for c in inputs.gate if not c.passed)
    return f"FAIL: {failed} ({ok}/{n} checks passed)"


def gate_rows(gate: tuple[GateCheck, ...]) -> list[tuple]:
    """One table row per check: name, pass/fail, observed, threshold, signed margin, detail."""
    return [
        (c.name, _result(c), c.observed, c.threshold, signed(c.margin), c.detail or MISSING)
        for c in gate
    ]


def _result(check: GateCheck) -> str:
    return "pass" if check.passed else "FAIL"


def versus_baseline(inputs: ReportInputs) -> str:
    """``hybrid 0.2100 vs popularity 0.1500 (+0.0600)`` at the report's k."""
    ours = headline(inputs.metrics, inputs.model, inputs.k)
    base = headline(inputs.metrics, "popularity", inputs.k)
    change = ours - base if ours is not None and base is not None else None
    return f"{inputs.model} {fmt(ours)} vs popularity {fmt(base)} ({signed(change)})"


def versus_previous(inputs: ReportInputs) -> str:
    """``+0.0042 vs the previous run (run-1)`` from the trends, or that there is none."""
    ours = headline(inputs.metrics, inputs.model, inputs.k)
    earlier = inputs.trends.filter(pl.col("run_id") != inputs.run_id).sort("date")
    if earlier.height == 0:
        return "first run of this data root"
    before = earlier.row(-1, named=True)
    change = ours - before["ndcg"] if ours is not None and before["ndcg"] is not None else None
    return f"{signed(change)} vs the previous run ({before['run_id']})"


def files_summary(inputs: ReportInputs) -> str:
    """``3 files, 12,345 rows; since the previous run: +100 rows, 1 file added (...)``."""
    rows = sum(r for _, r in inputs.files)
    text = f"{len(inputs.files):,} file(s), {rows:,} rows"
    change = file_changes(inputs.files, inputs.previous_files)
    if change is None:
        return text + "; no previous run to compare with"
    parts = [f"{signed(change.rows)} rows"]
    if change.added:
        parts.append(f"{len(change.added)} file(s) added ({_names(change.added)})")
    if change.removed:
        parts.append(f"{len(change.removed)} file(s) removed ({_names(change.removed)})")
    if not change.added and not change.removed:
        parts.append("same files")
    return text + "; since the previous run: " + ", ".join(parts)


def _names(files: list[tuple[str, int]]) -> str:
    return ", ".join(f"{n}: {r:,} rows" for n, r in files)


def _file_table(inputs: ReportInputs) -> str:
    before = dict(inputs.previous_files or ())
    first = inputs.previous_files is None
    rows = [
        (name, n, MISSING if first else signed(n - before[name]) if name in before else "new")
        for name, n in inputs.files
    ]
    now = dict(inputs.files)
    rows += [(name, 0, f"removed (had {r:,})") for name, r in before.items() if name not in now]
    return html_table(rows, ("input file", "rows", "change since the previous run"))


def header_html(inputs: ReportInputs) -> str:
    """Title, the run's facts as cards, the input files and the gate table."""
    e = html.escape
    state = "pass" if inputs.passed else "fail"
    cards = [
        ("run", inputs.run_id),
        ("date", fmt(inputs.generated_at)),
        ("data root", inputs.data_root),
        ("quarantined rows", fmt(inputs.quarantined)),
        (f"NDCG@{inputs.k}", versus_baseline(inputs)),
        ("against the previous run", versus_previous(inputs)),
    ]
    card_html = "".join(f"<div class='card'>{e(k)}<b>{e(v)}</b></div>" for k, v in cards)
    return "\n".join(
        [
            f"<h1>recsys run report</h1><p class='sub'>run <code>{e(inputs.run_id)}</code>, "
            f"{e(fmt(inputs.generated_at))}, data <code>{e(inputs.data_root)}</code></p>",
            f"<p class='verdict {state}'>Gate: {e(verdict(inputs))}</p>",
            f"<div class='cards'>{card_html}</div>",
            f"<h2>Inputs</h2><p>{e(files_summary(inputs))}; "
            f"{e(fmt(inputs.quarantined))} row(s) quarantined.</p>",
            _file_table(inputs),
            "<h2>Publish gate</h2><p>Margin: how far the observed value is on the passing side "
            "of the threshold (negative: failed by that much).</p>",
            html_table(gate_rows(inputs.gate), GATE_HEADER),
        ]
    )
