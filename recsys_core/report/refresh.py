"""The report of a refresh: the night's page with a section on the refreshes since that night.

A refresh does not evaluate anything (its models are the night's, so the night's evaluation,
gate and charts still describe them); what it adds is which users got fresh lists, from which
files, and how long it took. Each refresh's run record carries a ``refresh`` entry
(:func:`refresh_entry`); the section lists the chain of refreshes the live table went through
since its night, oldest first.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from recsys_core.report.format import html_table

__all__ = ["REFRESH_HEADER", "refresh_entry", "refresh_section", "with_refreshes"]

REFRESH_HEADER = (
    "refresh run",
    "date",
    "files read",
    "new ratings",
    "users refreshed",
    "of them new",
    "seconds",
)


def refresh_entry(
    files: Mapping[str, int], new_ratings: int, users: int, new_users: int, seconds: float
) -> dict[str, Any]:
    """The ``refresh`` entry of a refresh's run record: the files it read (name -> rows), the
    ratings that changed the day's ratings, the users whose lists it rewrote (and how many of
    them the night did not know), and the seconds from the run's start to its staged table."""
    return {
        "files": dict(sorted(files.items())),
        "new_ratings": int(new_ratings),
        "users_refreshed": int(users),
        "new_users": int(new_users),
        "seconds": round(float(seconds), 3),
    }


def refresh_section(night: str, chain: Sequence[Mapping[str, Any]]) -> str:
    """HTML: the refreshes (run records, oldest first) applied to night ``night``'s lists."""
    rows = [
        (
            r["run_id"],
            r.get("date"),
            ", ".join(f"{n} ({rows:,} rows)" for n, rows in r["refresh"]["files"].items()),
            r["refresh"]["new_ratings"],
            r["refresh"]["users_refreshed"],
            r["refresh"]["new_users"],
            r["refresh"]["seconds"],
        )
        for r in chain
    ]
    total = sum(r["refresh"]["users_refreshed"] for r in chain)
    return (
        f"<h2>Refreshes since the night</h2><p>{len(chain)} refresh(es) folded new ratings "
        f"into the lists of night <code>{html.escape(night)}</code> ({total:,} user lists "
        "rewritten; every other list, and everything below, is the night's).</p>"
        + html_table(rows, REFRESH_HEADER)
    )


def with_refreshes(page: str, night: str, chain: Sequence[Mapping[str, Any]]) -> str:
    """The night's report ``page`` with :func:`refresh_section` before its first section."""
    section = refresh_section(night, chain)
    at = page.find("<h2>")
    return page[:at] + section + page[at:] if at >= 0 else page + section
