"""Drift checks: compare a run's tables with the live run's before publishing them.

Two unattended nights motivated them: one odd id (``u42``) in a new file silently turned the
published ``user_id`` column from Int64 to String, and an emptied raw folder replaced 943 users
by 606 demo users. Both runs were internally valid; only a comparison with the live run shows
them.

A run is summarised by :func:`table_summary` (JSON-ready, kept in the run record) and two
summaries are compared by :func:`drift_checks`. Notation, for a count ``c`` (users, published
rows, ratings) of the new run and ``c_live`` of the live one, and the allowed drop ``d``
(``max_drop``, a share)::

    drop   = (c_live - c) / c_live          (negative when the count grew)
    floor  = c_live * (1 - d)               (the smallest count that passes)
    passes  <=>  drop <= d                  (exactly d passes, anything more fails)
    margin = d - drop                       (in percentage points; negative = failing)

``id_types`` passes when the dtypes of ``user_id`` and ``item_id`` equal the live run's. With no
live run every check passes. A check named in ``allow`` (an intended change, recorded per run)
passes even when its rule is broken; its message then starts with :data:`ALLOWED`.

:func:`changed_share` measures churn (share of common users whose list changed); it is
reported, never gated on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from recsys_core.errors import ConfigError, DataError

__all__ = [
    "ALLOWED",
    "CHECKS",
    "DriftCheck",
    "changed_share",
    "drift_checks",
    "drift_problems",
    "table_summary",
]

ID_COLUMNS = ("user_id", "item_id")
COUNTS = {"users_drop": "users", "rows_drop": "published_rows", "ratings_drop": "ratings"}
"""Drop check -> the summary count it compares."""
CHECKS = {
    "id_types": "The published user_id and item_id columns keep the live run's data types.",
    "users_drop": "The number of users is at most {max_drop} below the live run's.",
    "rows_drop": "The number of published rows is at most {max_drop} below the live run's.",
    "ratings_drop": "The number of input ratings is at most {max_drop} below the live run's.",
}
"""Check name -> its rule in one sentence, for the UI; format with a share written as text,
e.g. ``CHECKS[name].format(max_drop=f"{max_drop:.0%}")``."""
ALLOWED = "allowed: "
"""Prefix of the message of a check whose rule is broken but whose change the run allows."""


@dataclass(frozen=True)
class DriftCheck:
    """The outcome of one drift check: ``passed`` gates the publish, ``message`` says why
    (observed value, threshold, margin), ``allowed`` marks a broken rule the run allows."""

    passed: bool
    message: str
    allowed: bool = False


def table_summary(ratings: pl.DataFrame, recs: pl.DataFrame, input_rows: int) -> dict[str, Any]:
    """JSON-ready facts of a run, compared with the live run's by :func:`drift_checks`.

    ``ratings``: the validated ratings the lists were built from; ``recs``: the published
    lists; ``input_rows``: the rows read from the raw files (before validation). Keys:
    ``id_types`` (``{"user_id": "Int64", "item_id": "Int64"}``, the published columns'
    dtypes), ``users`` and ``items`` (distinct in ``ratings``; every such user gets a list),
    ``ratings`` (rows of ``ratings``), ``input_rows``, ``published_rows`` (rows of ``recs``).
    """
    for name, frame in (("ratings", ratings), ("recs", recs)):
        missing = [c for c in ID_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"{name} has no column(s) {missing}")
    return {
        "id_types": {c: str(recs.schema[c]) for c in ID_COLUMNS},
        "users": int(ratings.get_column("user_id").n_unique()),
        "items": int(ratings.get_column("item_id").n_unique()),
        "ratings": int(ratings.height),
        "input_rows": int(input_rows),
        "published_rows": int(recs.height),
    }


def drift_checks(
    new: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    max_drop: float = 0.2,
    allow: frozenset[str] = frozenset(),
) -> dict[str, DriftCheck]:
    """Every check of :data:`CHECKS` -> its :class:`DriftCheck`, ``new`` against ``live``.

    ``new`` and ``live`` are :func:`table_summary` dicts (``live`` None: no live run, all
    pass). A key the live summary lacks (a run recorded before these checks) is not compared
    and passes, saying so. Raises :class:`ConfigError` for ``max_drop`` outside [0, 1) or an
    unknown name in ``allow`` (a typo must not silently allow nothing).
    """
    if not 0 <= max_drop < 1:
        raise ConfigError(f"max_drop must be a share in [0, 1), got {max_drop!r}")
    unknown = sorted(set(allow) - set(CHECKS))
    if unknown:
        raise ConfigError(f"allow names unknown check(s) {unknown}; known: {sorted(CHECKS)}")
    if live is None:
        return {name: DriftCheck(True, "no live run to compare with") for name in CHECKS}
    checks = {"id_types": _id_types(new, live)}
    for name, key in COUNTS.items():
        checks[name] = _count_drop(key, _get(new, key), live.get(key), max_drop)
    return {name: _allowing(check, name in allow) for name, check in checks.items()}


def drift_problems(
    new: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    max_drop: float = 0.2,
    allow: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Check name -> message for each check whose rule is broken (empty: nothing drifted).

    An allowed change is listed with a message starting with :data:`ALLOWED` and does not
    block; the blocking ones are ``{k: v for k, v in p.items() if not v.startswith(ALLOWED)}``.
    """
    checks = drift_checks(new, live, max_drop, allow)
    return {name: c.message for name, c in checks.items() if not c.passed or c.allowed}


def changed_share(new_recs: pl.DataFrame, live_recs: pl.DataFrame) -> float:
    """Share of the users present in both tables whose set of recommended items changed.

    Ranks and scores are ignored. Ids are compared as text when the two tables' id dtypes
    differ. NaN when no user is in both (nothing to compare). Reported, never gated on.
    """
    new_lists, live_lists = _lists(new_recs, live_recs), _lists(live_recs, new_recs)
    both = new_lists.join(live_lists, on="user_id", how="inner", suffix="_live")
    if both.height == 0:
        return float("nan")
    return float(both.select((pl.col("items") != pl.col("items_live")).mean()).item())


def _lists(recs: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """``user_id, items`` (sorted distinct items), ids as text if ``other``'s dtypes differ."""
    ids = [
        pl.col(c).cast(pl.String) if recs.schema[c] != other.schema[c] else pl.col(c)
        for c in ID_COLUMNS
    ]
    return (
        recs.select(ids).group_by("user_id").agg(pl.col("item_id").unique().sort().alias("items"))
    )


def _get(summary: Mapping[str, Any], key: str) -> Any:
    if key not in summary:
        raise DataError(f"the new run's summary has no {key!r}: build it with table_summary")
    return summary[key]


def _id_types(new: Mapping[str, Any], live: Mapping[str, Any]) -> DriftCheck:
    types, live_types = _get(new, "id_types"), live.get("id_types")
    if live_types is None:
        return DriftCheck(True, "live run recorded no id types: not compared")
    shown = ", ".join(f"{c} {types[c]}" for c in ID_COLUMNS)
    changed = [c for c in ID_COLUMNS if types[c] != live_types.get(c)]
    if not changed:
        return DriftCheck(True, f"{shown}, as in the live run")
    detail = ", ".join(f"{c} {live_types.get(c)} -> {types[c]}" for c in changed)
    return DriftCheck(False, f"id type changed: {detail} (must equal the live run's)")


def _count_drop(key: str, value: int, live_value: int | None, max_drop: float) -> DriftCheck:
    label = key.replace("_", " ")
    if live_value is None:
        return DriftCheck(True, f"live run recorded no {label}: not compared")
    if live_value <= 0:
        return DriftCheck(True, f"{label} {value:,} (live {live_value:,}): nothing to drop")
    drop = (live_value - value) / live_value  # exact integers, one rounding: 20% is 0.2
    floor = live_value * (1 - max_drop)
    trend = f"down {drop:.1%}" if drop >= 0 else f"up {-drop:.1%}"
    message = (
        f"{label} {value:,} (live {live_value:,}, {trend}); allowed drop {max_drop:.1%} "
        f"(floor {floor:,.1f}); margin {(max_drop - drop) * 100:+.2f} pp"
    )
    return DriftCheck(drop <= max_drop, message)


def _allowing(check: DriftCheck, allowed: bool) -> DriftCheck:
    if not allowed:
        return check
    if check.passed:
        return DriftCheck(True, f"{check.message}; allowed for this run but within the rule")
    return DriftCheck(True, ALLOWED + check.message, allowed=True)
