"""From parsed files to one validated ratings frame plus a quarantine table.

Rules, in order:

1. Rows breaking a row rule (:mod:`recsys_core.data.rules`) go to quarantine with their reason.
2. Ids are first normalised per file format, so that one id written two ways is one id:
   in text files a field wholly in double quotes loses them (``"u1"`` is ``u1``, as R's
   ``write.csv`` writes it; ``""`` inside is one ``"``; a lone quote is part of the id), and
   surrounding spaces go; in Parquet an id column of floats writes an integral value as the
   integer (``1.0`` is ``1``; ``1.5`` stays ``1.5``), other types as their text. Then ids are
   typed over all files: if every user id (resp. item id) is a plain integer (no sign, no
   leading zero, at most 18 digits), the column becomes Int64; otherwise it stays a String, so
   ids like ``007`` or ``u42`` are kept exactly as written (``1.0`` in a *text* file is text).
3. Duplicated ``(user, item)`` pairs: the rating with the latest timestamp wins (a rating
   without a timestamp loses to one with); ties, or both missing, go to the later position
   (later file in the order given, then later line). Each
   superseded row goes to quarantine with reason ``duplicate (user, item): superseded by
   file:line``. Superseded duplicates are not *bad* rows: they do not count toward the
   bad-row fraction.
4. If bad rows exceed ``max_bad_fraction`` of the data rows read, :class:`DataError` is raised
   with the counts, the commonest reasons and the first examples (``file:line: reason``, the
   reason naming the column); nothing is returned.
5. A file with no data rows (empty, blank or header only) is logged and skipped; if no file has
   a usable rating, :class:`DataError` names the files.

Implicit feedback (``feedback="implicit"``, files read with a ``Reader(feedback="implicit")``
whose ``rating`` column is the interaction count): rules 1, 2, 4 and 5 hold unchanged; rule 3
does not apply, because a pair seen twice is two interactions, not a conflict: a pair's counts
are summed, its latest timestamp kept, and the sum becomes its rating through ``signal``
(:func:`recsys_core.data.interactions.interactions_to_ratings`; a pair whose counts sum to 0
is no interaction and is dropped). ``counts`` then also holds ``interactions`` (rows kept).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_core.data.interactions import Feedback, InteractionSignal, interactions_to_ratings
from recsys_core.data.readers import Reader, read_ratings
from recsys_core.data.rules import INT_ID, QUARANTINE_SCHEMA, ParsedFile, unify_ids
from recsys_core.errors import DataError
from recsys_core.params import require

log = logging.getLogger(__name__)

RATINGS_SCHEMA_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
DUPLICATE_REASON = "duplicate (user, item): superseded by "


@dataclass(frozen=True)
class Validated:
    """Validated ratings (one row per pair) and every row set aside, with counts."""

    ratings: pl.DataFrame
    quarantine: pl.DataFrame
    counts: dict[str, int]


def ingest(
    paths: Sequence[str | os.PathLike],
    reader: Reader | None = None,
    max_bad_fraction: float = 0.05,
    *,
    signal: InteractionSignal = "binary",
    alpha: float = 1.0,
    eps: float = 1.0,
) -> Validated:
    """Read every file in ``paths`` (in that order) and :func:`validate` them together, with
    the reader's ``feedback`` (``signal``, ``alpha``, ``eps``: as for :func:`validate`)."""
    require(0 <= max_bad_fraction <= 1, "max_bad_fraction", max_bad_fraction, "in [0, 1]")
    feedback = reader.feedback if reader is not None else "explicit"
    implicit = _implicit(feedback, signal, alpha, eps)
    return _validate([read_ratings(p, reader) for p in paths], max_bad_fraction, implicit)


def validate(
    parsed: Sequence[ParsedFile],
    max_bad_fraction: float = 0.05,
    *,
    feedback: Feedback = "explicit",
    signal: InteractionSignal = "binary",
    alpha: float = 1.0,
    eps: float = 1.0,
) -> Validated:
    """Combine parsed files (in the given order) into validated ratings; see module rules.
    ``signal``, ``alpha`` and ``eps`` turn implicit feedback's counts into ratings."""
    require(0 <= max_bad_fraction <= 1, "max_bad_fraction", max_bad_fraction, "in [0, 1]")
    return _validate(list(parsed), max_bad_fraction, _implicit(feedback, signal, alpha, eps))


def _implicit(
    feedback: Feedback, signal: InteractionSignal, alpha: float, eps: float
) -> dict | None:
    """``interactions_to_ratings``' options for implicit feedback, None for ratings."""
    require(feedback in ("explicit", "implicit"), "feedback", feedback, "explicit | implicit")
    return {"signal": signal, "alpha": alpha, "eps": eps} if feedback == "implicit" else None


def _validate(
    parsed: list[ParsedFile], max_bad_fraction: float, implicit: dict | None = None
) -> Validated:
    """:func:`validate`, emptying ``parsed`` once its rows are combined (so that, from
    :func:`ingest`, the parsed files are freed while the ratings are sorted)."""
    good = (
        pl.concat(
            [
                g.with_columns(pl.lit(k, pl.Int32).alias("_file_no"))
                for k, g in enumerate(unify_ids([p.good for p in parsed]))
            ],
            rechunk=False,
        )
        if parsed
        else None
    )
    bad = pl.concat([p.quarantine for p in parsed]) if parsed else _empty_quarantine()
    n_rows = sum(p.n_rows for p in parsed)
    counts = {
        "files": len(parsed),
        "rows_read": n_rows,
        "blank_lines": sum(p.n_blank for p in parsed),
        "bad_rows": bad.height,
    }
    for p in parsed:
        if p.n_rows == 0:
            log.warning("%s has no data rows (empty, blank or header only)", p.file)
    files = [p.file for p in parsed]
    parsed.clear()
    _check_bad_fraction(bad, n_rows, max_bad_fraction)
    if good is None or good.height == 0:
        names = ", ".join(files[:5]) + (", ..." if len(files) > 5 else "")
        raise DataError(
            f"no usable ratings in {len(files)} file(s) ({n_rows} data rows, "
            f"{bad.height} bad): {names or 'no files given'}"
        )
    good = good.with_columns(_typed_id("user_id", good), _typed_id("item_id", good))
    if implicit is not None:
        counts["interactions"] = good.height
        clicks = good.select("user_id", "item_id", "timestamp", pl.col("rating").alias("count"))
        good.clear()
        ratings = interactions_to_ratings(clicks, **implicit)
        superseded = _empty_quarantine()
    else:
        ratings, superseded = _resolve_duplicates(good)
    counts |= {"duplicates_superseded": superseded.height, "ratings": ratings.height}
    quarantine = pl.concat([bad, superseded]).sort(["file", "line"])
    if quarantine.height:
        log.warning("quarantined %d row(s): %s", quarantine.height, counts)
    return Validated(ratings, quarantine, counts)


def _empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def _typed_id(column: str, good: pl.DataFrame) -> pl.Expr:
    ids = good.get_column(column)
    if ids.dtype == pl.String and ids.len() and ids.str.contains(INT_ID).all():
        return pl.col(column).cast(pl.Int64)
    return pl.col(column)


def _check_bad_fraction(bad: pl.DataFrame, n_rows: int, limit: float) -> None:
    if n_rows == 0 or bad.height / n_rows <= limit:
        return
    reasons = (
        bad.with_columns(pl.col("reason").str.replace(r":.*$", ""))
        .group_by("reason")
        .len()
        .sort(["len", "reason"], descending=[True, False])
        .head(3)
    )
    top = "; ".join(f"{r} ({n})" for r, n in reasons.iter_rows())
    first = "; ".join(f"{f}:{ln}: {r}" for f, ln, r, _ in bad.head(3).iter_rows())
    raise DataError(
        f"{bad.height} of {n_rows} rows are bad ({bad.height / n_rows:.1%} > "
        f"max_bad_fraction {limit:.1%}); commonest: {top}; first: {first}"
    )


def _resolve_duplicates(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per pair, sorted by pair; the superseded rows). Empties ``good``.

    The rows are ordered by one integer key per pair; only the pairs that occur more than once
    are ranked (on 25M ratings this keeps the ranking off the unique majority), and the sorted
    columns are built one at a time while ``good``'s are dropped, so the peak holds about one
    copy of the ratings (not the several that a frame-wide sort and filter make).
    """
    key = _pair_key(good)
    order = key.arg_sort()
    key = key.gather(order)
    same = key == key.shift(1)
    repeated = (same | same.shift(-1)).fill_null(False)
    del key, same
    at = repeated.arg_true()  # positions, in pair order, of the rows of repeated pairs
    ranked = (
        good[order.gather(at)]
        .with_columns(at.alias("_at"))
        .sort(["timestamp", "_file_no", "line"], nulls_last=False)
        .with_columns(
            (
                pl.int_range(pl.len()).over("user_id", "item_id")
                == pl.len().over("user_id", "item_id") - 1
            ).alias("_wins"),
            pl.format("{}:{}", pl.col("file").last(), pl.col("line").last())
            .over("user_id", "item_id")
            .alias("_winner"),
        )
    )
    losers = ranked.filter(~pl.col("_wins"))
    keep = None
    if losers.height:
        keep = pl.Series(np.ones(len(order), dtype=bool))
        keep[losers.get_column("_at")] = False
    columns = []
    for name in RATINGS_SCHEMA_COLUMNS:  # one column at a time: gather, filter, drop
        column = good.drop_in_place(name).gather(order)
        columns.append(column if keep is None else column.filter(keep))
    good.clear()
    superseded = losers.select(
        "file",
        "line",
        (pl.lit(DUPLICATE_REASON) + pl.col("_winner")).alias("reason"),
        pl.format(
            "{},{},{},{}", "user_id", "item_id", "rating", pl.col("timestamp").fill_null("")
        ).alias("raw"),
    )
    return pl.DataFrame(columns), superseded.cast(QUARANTINE_SCHEMA)


def _pair_key(good: pl.DataFrame) -> pl.Series:
    """An Int64 per row, equal for equal ``(user_id, item_id)`` and ordered as the pairs are:
    ``user * (max item + 1) + item`` for non-negative integer ids when that fits, else the same
    with each id's dense rank (which orders text ids as a sort does)."""
    user, item = good.get_column("user_id"), good.get_column("item_id")
    if user.dtype == pl.Int64 and item.dtype == pl.Int64 and min(user.min(), item.min()) >= 0:
        width = int(item.max()) + 1
        if (int(user.max()) + 1) * width < 2**63:
            return user * width + item
    user = user.rank("dense").cast(pl.Int64) - 1
    item = item.rank("dense").cast(pl.Int64) - 1
    return user * (int(item.max()) + 1) + item
