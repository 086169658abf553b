"""How the report writes values: one rule for every table, card and Markdown line.

- missing (``None``, NaN) is an en dash, never ``None`` beside ``nan``;
- floats have 4 digits after the point (``0.1234``), infinities are ``∞``/``-∞``;
- integers have thousands separators (``12,345``); booleans are ``yes``/``no``;
- lists and tuples are comma-separated, each element formatted by these rules.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

MISSING = "\u2013"
"""An en dash: the one way a missing value is written."""

__all__ = ["MISSING", "fmt", "html_table", "signed"]


def fmt(value: Any) -> str:
    """``value`` as the report shows it (plain text, not escaped)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):  # int and numpy integers
        return f"{int(value):,}"
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return MISSING
    if isinstance(value, numbers.Real):  # float, numpy floats
        value = float(value)
        return f"{value:.4f}" if math.isfinite(value) else ("∞" if value > 0 else "-∞")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if value else MISSING
    return str(value)


def signed(value: float | int | None) -> str:
    """A change with its sign (``+0.0123``, ``-45``); missing is :data:`MISSING`."""
    text = fmt(value)
    if text == MISSING or text.startswith("-"):
        return text
    return "±0" if value == 0 else "+" + text


def html_table(frame: pl.DataFrame | Sequence[Sequence[Any]], header: Sequence[str] = ()) -> str:
    """An HTML table in a horizontally scrolling box (a wide table never clips); numbers right
    aligned, text left aligned, every value written by :func:`fmt`."""
    if isinstance(frame, pl.DataFrame):
        header, rows = frame.columns, list(frame.iter_rows())
    else:
        rows = [list(r) for r in frame]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='wide'>{table}</div>"


def _cell(value: Any) -> str:
    numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return f"<td class='{'num' if numeric else 'txt'}'>{html.escape(fmt(value))}</td>"
