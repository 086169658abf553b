"""Everything the report shows, gathered in one frozen value, and the small derivations
(the change in input files, the settings that differ from the defaults, the gate's margins).

The report reads nothing itself: the pipeline builds a :class:`ReportInputs` from the run's
files, so the same page can be rendered in a test from constructed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import polars as pl

__all__ = [
    "METRICS_COLUMNS",
    "TREND_COLUMNS",
    "FileChange",
    "GateCheck",
    "ReportInputs",
    "file_changes",
    "flatten",
    "quality_gate_checks",
    "settings_diff",
]

METRICS_COLUMNS = ("model", "metric", "k", "segment", "value")
TREND_COLUMNS = ("run_id", "date", "ndcg", "coverage", "users", "rows", "seconds")
BASELINE = "popularity"


class GateCheck(NamedTuple):
    """One check of the publish gate. ``margin`` is how far ``observed`` is on the passing side
    of ``threshold`` (negative = failed by that much); checks without a number leave the three
    numbers None and say why in ``detail``."""

    name: str
    observed: float | None
    threshold: float | None
    margin: float | None
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ReportInputs:
    """One run as the report shows it.

    ``files`` and ``previous_files`` are ``(file name, rows)`` of this run's and the previous
    run's inputs (None before the first run); ``metrics`` is the long metrics frame
    (``model, metric, k, segment, value``), which must hold the popularity baseline;
    ``published`` has ``user_id, item_id, source``; ``train_items`` the ``item_id`` column of
    the training ratings; ``trends`` one row per earlier run of this data root and this one
    (``run_id, date, ndcg, coverage, users, rows, seconds``); ``settings`` the run's effective
    settings, ``defaults`` the built-in ones, ``chosen`` what the night's tuning picked (nested
    dicts); ``model`` the published model whose NDCG@k the gate judged. Optional: ``rules``
    what the business rules removed (:func:`recsys_core.ranking.removed.rule_summary`, empty
    without rules); ``items`` the item metadata (``item_id, title, genres``, None or empty
    without an items file); ``similar`` the similar-items table (``item_id, rank,
    similar_item_id, score, source``).
    """

    run_id: str
    generated_at: datetime
    data_root: str
    files: Sequence[tuple[str, int]]
    previous_files: Sequence[tuple[str, int]] | None
    quarantined: int
    metrics: pl.DataFrame
    published: pl.DataFrame
    train_items: pl.DataFrame
    gate: Sequence[GateCheck]
    trends: pl.DataFrame
    settings: Mapping[str, Any]
    defaults: Mapping[str, Any]
    chosen: Mapping[str, Any] = field(default_factory=dict)
    k: int = 10
    model: str = "hybrid"
    rules: Mapping[str, Any] = field(default_factory=dict)
    items: pl.DataFrame | None = None
    similar: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None:
            raise ValueError(f"generated_at {self.generated_at!r} has no time zone: pass UTC")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        _require_columns("metrics", self.metrics, METRICS_COLUMNS)
        _require_columns("published", self.published, ("user_id", "item_id", "source"))
        _require_columns("train_items", self.train_items, ("item_id",))
        _require_columns("trends", self.trends, TREND_COLUMNS)
        if self.items is not None:
            _require_columns("items", self.items, ("item_id", "title", "genres"))
        if self.similar is not None:
            _require_columns("similar", self.similar, ("item_id", "rank", "similar_item_id"))
        if BASELINE not in set(self.metrics.get_column("model")):
            raise ValueError(f"metrics has no {BASELINE!r} rows: the baseline is always shown")
        object.__setattr__(self, "generated_at", self.generated_at.astimezone(UTC))
        object.__setattr__(self, "gate", tuple(_check(row) for row in self.gate))
        object.__setattr__(self, "files", tuple((str(n), int(r)) for n, r in self.files))
        if self.previous_files is not None:
            previous = tuple((str(n), int(r)) for n, r in self.previous_files)
            object.__setattr__(self, "previous_files", previous)

    @property
    def passed(self) -> bool:
        """The gate's verdict: every check passed."""
        return all(check.passed for check in self.gate)


def _check(row: GateCheck | Sequence[Any] | Mapping[str, Any]) -> GateCheck:
    """A gate row given as a GateCheck, a tuple, or a mapping (``GateCheck._asdict()`` read
    back from JSON)."""
    return GateCheck(**row) if isinstance(row, Mapping) else GateCheck(*row)


def _require_columns(name: str, frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {frame.columns}")


class FileChange(NamedTuple):
    """The inputs against the previous run's: names added and removed, row delta per file kept
    (only those that changed) and in total."""

    added: list[tuple[str, int]]
    removed: list[tuple[str, int]]
    changed: list[tuple[str, int]]
    rows: int


def file_changes(
    files: Sequence[tuple[str, int]], previous: Sequence[tuple[str, int]] | None
) -> FileChange | None:
    """What changed in the input files since the previous run (None when there was none)."""
    if previous is None:
        return None
    now, before = dict(files), dict(previous)
    added = [(n, r) for n, r in files if n not in before]
    removed = [(n, r) for n, r in previous if n not in now]
    changed = [(n, r - before[n]) for n, r in files if n in before and r != before[n]]
    return FileChange(added, removed, changed, sum(now.values()) - sum(before.values()))


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"dotted.path": leaf}``; lists and tuples are leaves."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, path + ".")
        else:
            flat[path] = value
    return flat


def settings_diff(
    settings: Mapping[str, Any], defaults: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """``(dotted key, value, default)`` for every setting that differs from its default (or has
    none), sorted by key; a default the settings lack shows as a None value."""
    now, base = flatten(settings), flatten(defaults)
    keys = sorted(set(now) | set(base))
    return [(k, now.get(k), base.get(k)) for k in keys if _norm(now.get(k)) != _norm(base.get(k))]


def _norm(value: Any) -> Any:
    return tuple(_norm(v) for v in value) if isinstance(value, (list, tuple)) else value


def quality_gate_checks(
    ndcg: float, live_ndcg: float | None, min_ndcg: float, max_drop: float
) -> list[GateCheck]:
    """The NDCG gate of :func:`recsys_core.publish.checks.quality_problems` with its numbers:
    a floor (``ndcg >= min_ndcg``) and a regression guard (``ndcg >= live - max_drop``), which
    passes with no threshold before the first published run."""
    floor = GateCheck(
        "ndcg_floor", ndcg, min_ndcg, ndcg - min_ndcg, ndcg >= min_ndcg, "publish.min_ndcg"
    )
    if live_ndcg is None:
        guard = GateCheck(
            "ndcg_regression", ndcg, None, None, True, "no live run yet (publish.max_ndcg_drop)"
        )
    else:
        bound = live_ndcg - max_drop
        detail = f"live run's NDCG {live_ndcg:.4f} minus publish.max_ndcg_drop {max_drop:.4f}"
        guard = GateCheck("ndcg_regression", ndcg, bound, ndcg - bound, ndcg >= bound, detail)
    return [floor, guard]
