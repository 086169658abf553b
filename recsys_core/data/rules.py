"""Row rules shared by every reader: typing the fields and giving each bad row its reason.

A row's reason is the first rule it breaks, in this order: wrong number of fields, missing user
or item id, rating not a number / not finite / outside ``rating_scale``, timestamp missing (when
the file has a time column), not an integer, or negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

QUARANTINE_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}
PARSED_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "rating": pl.Float64,
    "timestamp": pl.Int64,
    "file": pl.String,
    "line": pl.Int64,
}


@dataclass(frozen=True)
class ParsedFile:
    """One file after the row rules: usable rows, quarantined rows, and blank lines counted."""

    good: pl.DataFrame
    quarantine: pl.DataFrame
    n_blank: int

    @property
    def n_rows(self) -> int:
        return self.good.height + self.quarantine.height


def empty_parsed() -> pl.DataFrame:
    """A typed frame with no rows (an empty or all-blank file)."""
    schema = {"line": pl.Int64, "raw": pl.String, "reason": pl.String, "ts_reason": pl.String}
    return pl.DataFrame(schema={**schema, **PARSED_SCHEMA})


def typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast string fields to types; parse failures become reasons (earlier reasons win)."""
    has_time = "timestamp" in frame.columns
    rating_txt = pl.col("rating")
    rating = rating_txt.cast(pl.Float64, strict=False)
    exprs = [
        pl.coalesce(
            pl.col("reason"),
            pl.when(pl.col("user_id").fill_null("") == "").then(pl.lit("missing user id")),
            pl.when(pl.col("item_id").fill_null("") == "").then(pl.lit("missing item id")),
            pl.when(rating.is_null()).then(
                pl.format("rating is not a number: {}", rating_txt.fill_null(""))
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
        exprs += [
            ts.alias("timestamp"),
            pl.when(ts_txt.fill_null("") == "")
            .then(pl.lit("missing timestamp"))
            .when(ts.is_null())
            .then(pl.format("timestamp is not an integer: {}", ts_txt))
            .alias("ts_reason"),
        ]
    else:
        exprs += [
            pl.lit(None, pl.Int64).alias("timestamp"),
            pl.lit(None, pl.String).alias("ts_reason"),
        ]
    return frame.with_columns(exprs)


def apply(
    frame: pl.DataFrame, rating_scale: tuple[float, float], file: str, n_blank: int = 0
) -> ParsedFile:
    """Apply the value rules to a typed frame and split it into good rows and quarantine."""
    lo, hi = rating_scale
    r = pl.col("rating")
    reason = pl.coalesce(
        pl.col("reason"),
        pl.when(~r.is_finite()).then(pl.lit("rating is not finite")),
        pl.when((r < lo) | (r > hi)).then(
            pl.format("rating {} outside rating_scale [{}, {}]", r, pl.lit(lo), pl.lit(hi))
        ),
        pl.col("ts_reason"),
        pl.when(pl.col("timestamp") < 0).then(pl.lit("negative timestamp")),
    )
    frame = frame.with_columns(reason.alias("reason"), pl.lit(file).alias("file"))
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null()).select(
        [pl.col(c).cast(t) for c, t in PARSED_SCHEMA.items()]
    )
    quarantine = bad.select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])
    return ParsedFile(good, quarantine, n_blank)
