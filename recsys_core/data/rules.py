"""Row rules shared by every reader: typing the fields and giving each bad row its reason.

A row's reason is the first rule it breaks, in this order: not UTF-8 text, wrong number of
fields, missing user or item id, rating not a number / not finite / outside ``rating_scale``,
timestamp missing (when the file has a time column), not an integer, or negative.

A field's reason names the field and where it is in the file (``where``: ``column 3`` for text,
the column name for Parquet) and ends with the value, e.g. ``rating (column 3) is not a number:
'five'``; the part before ``:`` is the same for every row breaking that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

INT_ID = r"^(0|[1-9][0-9]{0,17})$"  # a plain integer id: no sign, no leading zero, <= 18 digits
ID_COLUMNS = ("user_id", "item_id")
QUARANTINE_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}
PARSED_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "rating": pl.Float64,
    "timestamp": pl.Int64,
    "file": pl.Categorical,  # one name per file: 4 bytes a row, not the name repeated
    "line": pl.Int64,
}


@dataclass(frozen=True)
class ParsedFile:
    """One file after the row rules: usable rows, quarantined rows, and blank lines counted.

    ``good`` has the columns of :data:`PARSED_SCHEMA`, except that an id column is Int64 when
    every id in it is a plain integer (:data:`INT_ID`, so the text it was read from is exactly
    the integer's spelling and :func:`unify_ids` can restore it): 8 bytes a row, not a string.
    """

    good: pl.DataFrame
    quarantine: pl.DataFrame
    n_blank: int
    file: str = ""

    @property
    def n_rows(self) -> int:
        return self.good.height + self.quarantine.height


def empty_parsed() -> pl.DataFrame:
    """A typed frame with no rows (an empty or all-blank file)."""
    schema = {"line": pl.Int64, "raw": pl.String, "reason": pl.String, "ts_reason": pl.String}
    return pl.DataFrame(schema={**schema, **PARSED_SCHEMA})


def _value(where: Mapping[str, str]) -> str:
    """The file field behind the parsed ``rating`` column: ``count`` for interactions that have
    one (``where`` then places ``count``), else ``rating``."""
    return "count" if "count" in where else "rating"


def _field(column: str, where: Mapping[str, str]) -> str:
    name = {"user_id": "user id", "item_id": "item id"}.get(column, column)
    return f"{name} ({where[column]})" if column in where else name


def typed(frame: pl.DataFrame, where: Mapping[str, str]) -> pl.DataFrame:
    """Cast string fields to types; parse failures become reasons (earlier reasons win).

    ``where`` maps each field column present (``user_id``, ``item_id``, ``rating``, and
    ``timestamp`` if the file has one) to its place in the file, for the reasons.
    """
    has_time = "timestamp" in frame.columns
    rating_txt = pl.col("rating")
    rating = rating_txt.cast(pl.Float64, strict=False)
    exprs = [
        pl.coalesce(
            pl.col("reason"),
            *[
                pl.when(pl.col(c).fill_null("") == "").then(
                    pl.lit(f"{_field(c, where)} is missing")
                )
                for c in ("user_id", "item_id")
            ],
            pl.when(rating.is_null()).then(
                pl.format(
                    f"{_field(_value(where), where)} is not a number: '{{}}'",
                    rating_txt.fill_null(""),
                )
            ),
        ).alias("reason"),
        rating.alias("rating"),
    ]
    if has_time:
        ts_txt = pl.col("timestamp")
        as_int = ts_txt.cast(pl.Int64, strict=False)
        as_float = ts_txt.cast(pl.Float64, strict=False)
        integral = as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2**62)
        ts = pl.coalesce(as_int, pl.when(integral).then(as_float.cast(pl.Int64)))
        field = _field("timestamp", where)
        exprs += [
            ts.alias("timestamp"),
            pl.when(ts_txt.fill_null("") == "")
            .then(pl.lit(f"{field} is missing"))
            .when(ts.is_null())
            .then(pl.format(f"{field} is not an integer: '{{}}'", ts_txt))
            .when(ts < 0)
            .then(pl.format(f"{field} is negative: {{}}", ts))
            .alias("ts_reason"),
        ]
    else:
        exprs += [
            pl.lit(None, pl.Int64).alias("timestamp"),
            pl.lit(None, pl.String).alias("ts_reason"),
        ]
    return frame.with_columns(exprs)


def apply(
    frame: pl.DataFrame,
    rating_scale: tuple[float, float],
    file: str,
    n_blank: int,
    where: Mapping[str, str],
) -> ParsedFile:
    """Apply the value rules to a typed frame and split it into good rows and quarantine."""
    lo, hi = rating_scale
    r = pl.col("rating")
    field = _field(_value(where), where)
    if _value(where) == "count":  # an interaction count: any finite number >= 0
        outside = pl.when(r < 0).then(pl.format(f"{field} is negative: {{}}", r))
    else:
        outside = pl.when((r < lo) | (r > hi)).then(
            pl.format(f"{field} is outside rating_scale [{lo}, {hi}]: {{}}", r)
        )
    reason = pl.coalesce(
        pl.col("reason"),
        pl.when(~r.is_finite()).then(pl.format(f"{field} is not finite: {{}}", r)),
        outside,
        pl.col("ts_reason"),
    )
    frame = frame.with_columns(reason.alias("reason"), pl.lit(file, pl.Categorical).alias("file"))
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null()).select(
        [pl.col(c).cast(t) for c, t in PARSED_SCHEMA.items()]
    )
    quarantine = bad.select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])
    return ParsedFile(int_ids(good), quarantine, n_blank, file)


def int_ids(good: pl.DataFrame) -> pl.DataFrame:
    """``good`` with each String id column that holds only plain integers cast to Int64."""
    cast = [
        pl.col(c).cast(pl.Int64)
        for c in ID_COLUMNS
        if good.schema[c] == pl.String and good.height and good[c].str.contains(INT_ID).all()
    ]
    return good.with_columns(cast) if cast else good


def unify_ids(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """The frames with one type per id column: Int64 if every non-empty frame has it Int64,
    else String (an Int64 id written back as text is exactly the plain integer it was read as)."""
    out = frames
    for c in ID_COLUMNS:
        typed = {f.schema[c] for f in out if f.height} or {pl.String}
        dtype = pl.Int64 if typed == {pl.Int64} else pl.String
        out = [f if f.schema[c] == dtype else f.with_columns(pl.col(c).cast(dtype)) for f in out]
    return out


def combine(parts: list[ParsedFile], file: str, n_blank: int) -> ParsedFile:
    """One :class:`ParsedFile` from the batches of a file (in order)."""
    good = pl.concat(unify_ids([p.good for p in parts]), rechunk=False)
    quarantine = pl.concat([p.quarantine for p in parts], rechunk=False)
    return ParsedFile(good, quarantine, n_blank, file)
