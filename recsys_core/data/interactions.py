"""Implicit feedback: interaction files (clicks, plays, purchases) as first-class input.

An interaction file has no rating column: ``user, item[, timestamp][, count]`` (header aliases as
for ratings, e.g. ``userId,movieId,timestamp``; ``count``, ``plays``, ``clicks``, ``quantity``
name the count). :func:`interactions_to_ratings` turns parsed interactions into the ratings frame
every model takes (``user_id, item_id, rating, timestamp``): one row per pair, duplicates summed
into a count ``c_ui`` (a row without a count counts 1), the latest timestamp kept, and

- ``binary``:     ``rating = 1``;
- ``log_count``:  ``rating = 1 + alpha * log(1 + c_ui / eps)`` (Hu, Koren & Volinsky 2008's
  confidence; ``alpha`` scales how much repeat interactions count, ``eps`` the count at which the
  log starts to bend). ``rating >= 1`` always; 1 exactly only as ``c_ui / eps -> 0``.

Relevance in evaluation: every held-out interaction is relevant. Since every implicit rating is
``>= 1 > 0``, that is the metrics' ``threshold`` = :data:`IMPLICIT_THRESHOLD` (0), which
:func:`relevance_threshold` picks from the feedback kind. Models: EASE and iALS with
``signal="binary"`` (their ``graded`` signal compares ratings to a 1-5 star threshold), and
Popularity (``score="count"``), rank implicit data unchanged; rating predictors (SVD, KNN
estimates, baselines) have no meaning on it.

:func:`detect_feedback` tells the two kinds apart from a header; :func:`require_explicit` is the
clear error for a file whose ratings are expected but absent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from recsys_core.errors import ConfigError, DataError
from recsys_core.evaluation.metrics import THRESHOLD

__all__ = [
    "IMPLICIT_THRESHOLD",
    "Feedback",
    "InteractionSignal",
    "check_header",
    "detect_feedback",
    "interactions_to_ratings",
    "positional_fields",
    "read_interactions",
    "relevance_threshold",
    "require_explicit",
    "valid_range",
]

Feedback = Literal["explicit", "implicit"]
InteractionSignal = Literal["binary", "log_count"]
"""How a pair's interactions become its rating (see the module docstring)."""

IMPLICIT_THRESHOLD = 0.0
"""Relevance threshold for implicit data: any held-out interaction (every rating is >= 1)."""

RATING_NAMES = {"rating", "ratings", "score", "stars"}
"""Header names of a rating column (as the readers' aliases)."""

COUNT_NAMES = {"count", "counts", "plays", "playcount", "clicks", "quantity", "n", "weight"}
"""Header names of an interaction count column."""


def _norm(token: str) -> str:
    return token.strip().strip('"').lower().replace("_", "").replace("-", "")


def detect_feedback(header_columns: Sequence[str]) -> Feedback:
    """``"explicit"`` when the header names a rating column, else ``"implicit"``."""
    return "explicit" if any(_norm(c) in RATING_NAMES for c in header_columns) else "implicit"


def require_explicit(path: str | os.PathLike, header_columns: Sequence[str]) -> None:
    """Raise :class:`DataError` naming ``path`` when explicit ratings are expected but its header
    has no rating column (nothing happens for an explicit header)."""
    if detect_feedback(header_columns) == "explicit":
        return
    raise DataError(
        f"{path}: header {list(header_columns)} has no rating column (one of "
        f"{sorted(RATING_NAMES)}), but explicit ratings are expected; if this file holds "
        "interactions (clicks, plays), set the data's feedback to 'implicit' "
        "(ingest.feedback)"
    )


def check_header(label: str, fields: Sequence[str], feedback: Feedback) -> None:
    """A header (or Parquet columns) must name a rating column for ratings, and none for
    interactions; the :class:`DataError` names the file (``label``)."""
    if feedback == "explicit":
        require_explicit(label, fields)
    elif detect_feedback(fields) == "explicit":
        raise DataError(
            f"{label}: header {list(fields)} has a rating column, but the feedback is implicit "
            "(interactions: user, item[, timestamp][, count]); drop the column, or set the "
            "feedback to 'explicit' (ingest.feedback) if the file holds ratings"
        )


def positional_fields(width: int, feedback: Feedback) -> list[str | None]:
    """Field names of a file without a header, by its number of columns: ``user item rating
    [timestamp]`` for ratings, ``user item [timestamp [count]]`` for interactions (None: a
    column to ignore)."""
    if feedback == "implicit":
        names: list[str | None] = ["user", "item", "timestamp", "count"][:width]
    else:
        names = (
            ["user", "item", "rating", "timestamp"] if width >= 4 else ["user", "item", "rating"]
        )
    return names + [None] * (width - len(names))


def relevance_threshold(feedback: Feedback, explicit_threshold: float = THRESHOLD) -> float:
    """The metrics' ``threshold``: ``explicit_threshold`` for ratings, 0 (any interaction) else."""
    if feedback not in ("explicit", "implicit"):
        raise ConfigError(f"feedback must be 'explicit' or 'implicit', got {feedback!r}")
    return explicit_threshold if feedback == "explicit" else IMPLICIT_THRESHOLD


def valid_range(feedback: Feedback, rating_scale: tuple[float, float]) -> tuple[float, float]:
    """Where a validated rating lies: within ``rating_scale`` for ratings; at least 1 for
    implicit feedback (``binary`` is 1, ``log_count`` 1 + a non-negative term)."""
    return rating_scale if feedback == "explicit" else (1.0, float("inf"))


def interactions_to_ratings(
    interactions: pl.DataFrame,
    signal: InteractionSignal = "binary",
    *,
    alpha: float = 1.0,
    eps: float = 1.0,
) -> pl.DataFrame:
    """``user_id, item_id, rating, timestamp`` from ``user_id, item_id[, timestamp][, count]``.

    See the module docstring for the formulas. Rows with a null id are an error; a count must be
    finite and >= 0 (a zero count is no interaction: the row is dropped); sorted by user, item.
    """
    if signal not in ("binary", "log_count"):
        raise ConfigError(f"signal must be 'binary' or 'log_count', got {signal!r}")
    if not (alpha > 0 and eps > 0):
        raise ConfigError(f"alpha and eps must be > 0, got alpha={alpha}, eps={eps}")
    missing = [c for c in ("user_id", "item_id") if c not in interactions.columns]
    if missing:
        raise DataError(f"interactions lack column(s) {missing}; have {interactions.columns}")
    frame = interactions.select(
        "user_id",
        "item_id",
        _column(interactions, "timestamp", pl.Int64),
        _column(interactions, "count", pl.Float64, default=1.0),
    )
    _check(frame)
    pairs = (
        frame.filter(pl.col("count") > 0)
        .group_by("user_id", "item_id")
        .agg(pl.col("count").sum(), pl.col("timestamp").max())
        .sort("user_id", "item_id")
    )
    c = pairs.get_column("count").to_numpy()
    rating = np.ones(len(c)) if signal == "binary" else 1.0 + alpha * np.log1p(c / eps)
    return pairs.select(
        "user_id", "item_id", pl.Series("rating", rating, dtype=pl.Float64), "timestamp"
    )


def read_interactions(path: str | os.PathLike, sep: str = ",") -> pl.DataFrame:
    """A delimited interaction file as ``user_id, item_id[, timestamp][, count]``.

    With a header, columns are found by name (the readers' aliases, plus the count names);
    without one, by position: ``user, item[, timestamp[, count]]``. Ids become Int64 when every
    id is a plain integer (as for ratings), else stay strings. A quick reader for a notebook;
    the pipeline reads interaction files with the rating readers
    (``Reader(feedback="implicit")``), which keep quarantine and provenance.
    """
    try:
        frame = pl.read_csv(path, separator=sep, has_header=False, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: cannot read the interaction file ({exc})") from None
    if frame.height == 0:
        raise DataError(f"{path}: no interactions")
    first = [str(v) for v in frame.row(0)]
    names = [_HEADER.get(_norm(c)) for c in first]
    if "user_id" in names and "item_id" in names:
        frame = frame.slice(1)
    else:
        names = ["user_id", "item_id", "timestamp", "count"][: frame.width]
        names += [None] * (frame.width - len(names))
    keep = {old: new for old, new in zip(frame.columns, names, strict=True) if new}
    frame = frame.select(list(keep)).rename(keep)
    typed = frame.with_columns(
        *(_typed_id(frame, c) for c in ("user_id", "item_id")),
        *(pl.col(c).cast(t, strict=False) for c, t in _TYPES.items() if c in frame.columns),
    )
    for col in _TYPES:
        if col in frame.columns:
            bad = frame.filter(
                typed.get_column(col).is_null() & frame.get_column(col).is_not_null()
            )
            if bad.height:
                raise DataError(
                    f"{path}: {bad.height} row(s) with a non-numeric {col}, e.g. {bad.row(0)}"
                )
    return typed


_HEADER = {
    **{k: "user_id" for k in ("user", "userid", "uid", "customerid")},
    **{k: "item_id" for k in ("item", "itemid", "iid", "movieid", "movie", "productid")},
    **{k: "timestamp" for k in ("timestamp", "time", "ts", "unixtime")},
    **dict.fromkeys(COUNT_NAMES, "count"),
}
_TYPES = {"timestamp": pl.Int64, "count": pl.Float64}


def _typed_id(frame: pl.DataFrame, column: str) -> pl.Expr:
    ids = frame.get_column(column).str.strip_chars()
    if ids.len() and ids.str.contains(r"^(0|[1-9][0-9]{0,17})$").all():
        return ids.cast(pl.Int64)
    return ids


def _column(frame: pl.DataFrame, name: str, dtype, default=None) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(default, dtype=dtype).alias(name)


def _check(frame: pl.DataFrame) -> None:
    null_ids = frame.filter(pl.col("user_id").is_null() | pl.col("item_id").is_null()).height
    if null_ids:
        raise DataError(f"interactions: {null_ids} row(s) with a null user_id or item_id")
    count = frame.get_column("count")
    bad = frame.filter(count.is_null() | ~count.is_finite() | (count < 0))
    if bad.height:
        raise DataError(
            f"interactions: {bad.height} row(s) with a count that is not a finite number >= 0, "
            f"e.g. {bad.row(0)}"
        )
