"""Readers for raw rating files, with options in Surprise's vocabulary.

Formats: GroupLens ``u.data`` (tab, no header), MovieLens 1M (``::``), delimited text with a
header (e.g. ``userId,movieId,rating,timestamp``), gzip-compressed text, and Parquet. Every
line of text is kept with its line number: a line that cannot be used becomes a quarantine row
(``file, line, reason, raw``), never a silent drop. Blank lines are not ratings and are only
counted. A line that is not UTF-8 text (an invalid byte or a NUL) is quarantined whole, with its
bytes shown as ``\\xNN`` in ``raw``, rather than read with replaced characters: two ids that
differ only in such bytes must not merge.

The reader's output is a *parsed* frame: ids as strings (typed later, over all files, by
:mod:`recsys_core.data.validate`), ``rating`` Float64, ``timestamp`` Int64 (null when the file
has no time), plus ``file`` and ``line`` for provenance.

``feedback`` (the reader's, never guessed per file): ``explicit`` files need a rating column;
``implicit`` files are interactions, ``user, item[, timestamp][, count]``, with no rating column,
and their parsed ``rating`` is the count (1 without one; a finite number >= 0); see
:func:`recsys_core.data.interactions.check_header` and ``positional_fields``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recsys_core.data import rules
from recsys_core.data.interactions import (
    COUNT_NAMES,
    Feedback,
    check_header,
    positional_fields,
)
from recsys_core.data.lines import line_batches
from recsys_core.data.watch import watched_files
from recsys_core.errors import ConfigError, DataError
from recsys_core.params import require

FIELDS = ("user", "item", "rating", "timestamp")
ALIASES = {
    "user": "user", "userid": "user", "uid": "user", "customerid": "user",
    "item": "item", "itemid": "item", "iid": "item", "movieid": "item", "movie": "item",
    "productid": "item", "product": "item",
    "rating": "rating", "ratings": "rating", "score": "rating", "stars": "rating",
    "timestamp": "timestamp", "time": "timestamp", "ts": "timestamp", "unixtime": "timestamp",
    **dict.fromkeys(COUNT_NAMES, "count"),
}  # fmt: skip
PRESETS = {
    "ml-100k": {"line_format": "user item rating timestamp", "sep": "\t"},
    "ml-1m": {"line_format": "user item rating timestamp", "sep": "::"},
    "ml-latest": {"line_format": "user item rating timestamp", "sep": ","},
}
COLUMN = {"user": "user_id", "item": "item_id", "rating": "rating", "timestamp": "timestamp"}
PARQUET_SUFFIXES = (".parquet", ".pq")
SNIFF_SEPARATORS = ("::", "\t", ",", ";", "|", " ")


@dataclass(frozen=True, kw_only=True)
class Reader:
    """How to read raw rating files (Surprise's ``Reader`` options).

    Attributes:
        name: a preset (``ml-100k``, ``ml-1m``, ``ml-latest``) filling ``line_format``/``sep``.
        line_format: field names in file order, space-separated, from ``user item rating
            timestamp`` (``timestamp`` optional); other names are columns to ignore. ``None``:
            from the header if there is one, else ``user item rating[ timestamp]`` by width.
        sep: field separator (any string, e.g. ``::``); ``None`` sniffs the first data line.
        rating_scale: ``(lowest, highest)`` valid rating, both inclusive.
        skip_lines: lines to skip at the top of each text file (before any header).
        feedback: ``explicit`` (ratings) or ``implicit`` (interactions; see the module
            docstring).
    """

    name: str | None = None
    line_format: str | None = None
    sep: str | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    skip_lines: int = 0
    feedback: Feedback = "explicit"

    def __post_init__(self) -> None:
        require(
            self.name is None or self.name in PRESETS, "name", self.name, f"one of {list(PRESETS)}"
        )
        if self.name is not None:
            preset = PRESETS[self.name]
            object.__setattr__(self, "line_format", self.line_format or preset["line_format"])
            object.__setattr__(self, "sep", self.sep or preset["sep"])
        scale = tuple(float(x) for x in self.rating_scale)
        require(
            len(scale) == 2 and scale[0] < scale[1],
            "rating_scale",
            self.rating_scale,
            "(lo, hi) with lo < hi",
        )
        object.__setattr__(self, "rating_scale", scale)
        require(self.skip_lines >= 0, "skip_lines", self.skip_lines, ">= 0")
        require(self.sep is None or len(self.sep) > 0, "sep", self.sep, "a non-empty string")
        require(
            self.feedback in ("explicit", "implicit"),
            "feedback",
            self.feedback,
            "'explicit' or 'implicit'",
        )
        if self.line_format is not None:
            parse_line_format(self.line_format, self.feedback)


def parse_line_format(line_format: str, feedback: Feedback = "explicit") -> list[str | None]:
    """Field names of ``line_format`` (None for ignored columns); user and item required, and
    a rating for explicit feedback (implicit feedback has none; ``count`` is optional)."""
    names = [ALIASES.get(_norm(tok)) for tok in line_format.split()]
    if feedback == "explicit":
        names = [None if n == "count" else n for n in names]
    for need in ("user", "item", "rating") if feedback == "explicit" else ("user", "item"):
        if need not in names:
            raise ConfigError(f"line_format {line_format!r} lacks {need!r}")
    if feedback == "implicit" and "rating" in names:
        raise ConfigError(
            f"line_format {line_format!r} names a rating, but the feedback is implicit "
            "(interactions have none): name that column anything else to ignore it"
        )
    dup = {n for n in names if n is not None and names.count(n) > 1}
    if dup:
        raise ConfigError(f"line_format {line_format!r} repeats {sorted(dup)}")
    return names


def _norm(token: str) -> str:
    return token.strip().strip('"').lower().replace("_", "").replace("-", "")


def read_ratings(path: str | os.PathLike, reader: Reader | None = None) -> ParsedFile:
    """Read one raw rating file into a :class:`ParsedFile` (format detected per file).

    The file is read in batches (about :data:`recsys_core.data.lines.BATCH_BYTES` of text, or
    :data:`BATCH_ROWS` Parquet rows), each typed and checked on its own with only its good rows
    kept, so memory follows the validated ratings, not the file. The batch size changes nothing
    in the result.
    """
    path = Path(path)
    reader = reader or Reader()
    label = file_label(path)
    if not path.is_file():
        raise DataError(f"{label}: no such file")
    blank = [0]
    if path.suffix.lower() in PARQUET_SUFFIXES:
        batches = _parquet_batches(path, reader.feedback)
    else:
        batches = _text_batches(path, reader, blank)
    scale = reader.rating_scale
    parts = [rules.apply(frame, scale, label, 0, where) for frame, where in batches]
    if not parts:
        parts = [rules.apply(rules.empty_parsed(), scale, label, 0, {})]
    return rules.combine(parts, label, blank[0])


def file_label(path: Path) -> str:
    """How a file is named in the data and in messages: its path, with any byte of the name that
    is not UTF-8 (a Latin-1 ``é``) shown as ``\\xNN`` instead of breaking every message."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


ParsedFile = rules.ParsedFile
BATCH_ROWS = 1 << 20  # Parquet rows per batch
Batch = tuple[pl.DataFrame, dict[str, str]]  # a typed frame and where each field is in the file


# -- text ---------------------------------------------------------------------------------------
def _sniff_sep(line: str) -> str | None:
    return next((sep for sep in SNIFF_SEPARATORS if sep in line), None)


def _header_format(fields: list[str]) -> list[str | None] | None:
    """Field names if ``fields`` look like a header (they name a user and an item column)."""
    names = [ALIASES.get(_norm(f)) for f in fields]
    return names if "user" in names and "item" in names else None


def _data_lines(path: Path, reader: Reader, n_blank: list[int]) -> Iterator[pl.DataFrame]:
    """Batches of lines after ``skip_lines``, blank lines dropped and counted in ``n_blank[0]``."""
    for frame in line_batches(path):
        frame = frame.filter(pl.col("line") > reader.skip_lines)
        blank = frame.get_column("raw").str.strip_chars().str.len_bytes() == 0
        n_blank[0] += int(blank.sum())
        frame = frame.filter(~blank)
        if frame.height:
            yield frame


def _text_batches(path: Path, reader: Reader, n_blank: list[int]) -> Iterator[Batch]:
    """Typed batches of a text file; the separator and header come from its first text line
    (the first line that is not blank nor quarantined already)."""
    lines = _data_lines(path, reader, n_blank)
    held: list[pl.DataFrame] = []  # batches read while looking for the first text line
    first_line = None
    for frame in lines:
        held.append(frame)
        text = frame.filter(pl.col("reason").is_null())
        if text.height:
            first_line = text.row(0, named=True)
            break
    if not held:
        return
    first = first_line["raw"] if first_line else ""
    sep = reader.sep or _sniff_sep(first)
    if sep is None and first_line:
        where = f"{file_label(path)}:{first_line['line']}"
        raise DataError(f"{where}: cannot detect the field separator of {first[:80]!r}; set sep")
    sep = sep or "\t"  # no text line at all: every line is already quarantined
    header = _header_format(first.split(sep)) if first_line else None
    if header is not None and reader.line_format is None:
        check_header(file_label(path), first.split(sep), reader.feedback)
    if reader.line_format:
        names = parse_line_format(reader.line_format, reader.feedback)
    else:
        names = header or positional_fields(len(first.split(sep)), reader.feedback)
    if reader.feedback == "explicit":
        names = [None if n == "count" else n for n in names]
    where = {COLUMN[f]: f"column {names.index(f) + 1}" for f in FIELDS if f in names}
    if "count" in names:  # implicit: the count fills the parsed rating column
        where["count"] = f"column {names.index('count') + 1}"
        names = ["rating" if n == "count" else n for n in names]
    for frame in itertools.chain(held, lines):
        if header is not None:
            frame = frame.filter(pl.col("line") != first_line["line"])
        yield _split_fields(frame, sep, names, where), where


def _split_fields(
    frame: pl.DataFrame, sep: str, names: list[str | None], where: dict[str, str]
) -> pl.DataFrame:
    parts = pl.col("raw").str.split(sep)
    quoted = frame.get_column("raw").str.contains('"', literal=True).any()
    cols = [
        _unquoted(parts.list.get(names.index(f), null_on_oob=True).str.strip_chars(), quoted).alias(
            COLUMN[f]
        )
        for f in FIELDS
        if f in names
    ]
    if "rating" not in names:  # an interaction without a count counts once
        cols.append(pl.lit("1").alias("rating"))
    out = frame.with_columns(parts.list.len().alias("n_fields")).with_columns(cols)
    width_bad = pl.col("n_fields") != len(names)
    out = out.with_columns(
        pl.coalesce(
            pl.col("reason"),
            pl.when(width_bad).then(
                pl.format(
                    "expected {} fields separated by {}, found {}",
                    pl.lit(len(names)),
                    pl.lit(repr(sep)),
                    pl.col("n_fields"),
                )
            ),
        ).alias("reason")
    )
    return rules.typed(out, where)


def _unquoted(field: pl.Expr, quoted: bool) -> pl.Expr:
    """``"u1"`` -> ``u1`` (a field wholly in double quotes, ``""`` inside read as ``"``), as
    R's ``write.csv`` and spreadsheets write text; ``quoted``: the batch has a quote at all."""
    if not quoted:
        return field
    inner = field.str.replace(r'^"(.*)"$', "${1}").str.replace_all('""', '"', literal=True)
    return pl.when(field.str.contains(r'^".*"$')).then(inner).otherwise(field)


# -- parquet ------------------------------------------------------------------------------------
def _parquet_batches(path: Path, feedback: Feedback = "explicit") -> Iterator[Batch]:
    """Typed batches of :data:`BATCH_ROWS` rows; ``line`` is the row number (from 1)."""
    try:
        file = pq.ParquetFile(path)
        columns = file.schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{file_label(path)}: cannot read as Parquet ({exc})") from exc
    names = {ALIASES[_norm(c)]: c for c in columns if _norm(c) in ALIASES}
    need = ("user", "item", "rating") if feedback == "explicit" else ("user", "item")
    missing = [f for f in need if f not in names]
    if missing:
        raise DataError(
            f"{file_label(path)}: Parquet file lacks column(s) for {missing}; has {columns}"
        )
    if feedback == "implicit":
        check_header(file_label(path), columns, feedback)
    where = {COLUMN[f]: f"column {names[f]!r}" for f in FIELDS if f in names}
    if feedback == "implicit" and "count" in names:  # the count fills the rating column
        where["count"] = f"column {names['count']!r}"
        names["rating"] = names.pop("count")
    wanted = [names[f] for f in FIELDS if f in names]
    first_line = 1
    try:
        for batch in file.iter_batches(BATCH_ROWS, columns=wanted):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield _parquet_fields(frame, names, first_line, where), where
            first_line += frame.height
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{file_label(path)}: cannot read as Parquet ({exc})") from exc


def _parquet_fields(
    frame: pl.DataFrame, names: dict[str, str], first_line: int, where: dict[str, str]
) -> pl.DataFrame:
    present = [f for f in FIELDS if f in names]
    out = frame.select(
        pl.int_range(first_line, first_line + pl.len(), dtype=pl.Int64).alias("line"),
        *[pl.col(names[f]).cast(pl.String).str.strip_chars().alias(COLUMN[f]) for f in present],
        *[_parquet_id(frame, names[f]).alias(f"_{COLUMN[f]}") for f in ("user", "item")],
    )
    out = out.with_columns(
        pl.concat_str(
            [pl.col(COLUMN[f]).fill_null("<null>") for f in present], separator=","
        ).alias("raw"),
        pl.lit(None, dtype=pl.String).alias("reason"),
        pl.col("_user_id").alias("user_id"),
        pl.col("_item_id").alias("item_id"),
    ).drop("_user_id", "_item_id")
    if "rating" not in present:  # an interaction without a count counts once
        out = out.with_columns(pl.lit("1").alias("rating"))
    return rules.typed(out, where)


def _parquet_id(frame: pl.DataFrame, column: str) -> pl.Expr:
    """An id column as text: an integral float is written as the integer (``1.0`` -> ``1``), so
    it is the same id as the ``1`` of a text file or an integer column."""
    col = pl.col(column)
    if not frame.schema[column].is_float():
        return col.cast(pl.String).str.strip_chars()
    integral = col.is_finite() & (col == col.floor()) & (col.abs() < 2**63)
    return pl.when(integral).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.cast(pl.String))


def raw_files(folder: str | os.PathLike) -> list[Path]:
    """Raw rating files in ``folder``, sorted by name: the files the sensor watches (hidden and
    ``.part`` files, folders and links leading outside are skipped; one rule for every reader
    of ``raw/``, :func:`recsys_core.data.watch.watched_files`)."""
    return watched_files(folder)[0]
