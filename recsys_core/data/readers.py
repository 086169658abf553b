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
"""

from __future__ import annotations

import codecs
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from recsys_core.data import rules
from recsys_core.errors import ConfigError, DataError
from recsys_core.params import require

FIELDS = ("user", "item", "rating", "timestamp")
ALIASES = {
    "user": "user", "userid": "user", "uid": "user", "customerid": "user",
    "item": "item", "itemid": "item", "iid": "item", "movieid": "item", "movie": "item",
    "productid": "item", "product": "item",
    "rating": "rating", "ratings": "rating", "score": "rating", "stars": "rating",
    "timestamp": "timestamp", "time": "timestamp", "ts": "timestamp", "unixtime": "timestamp",
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
    """

    name: str | None = None
    line_format: str | None = None
    sep: str | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    skip_lines: int = 0

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
        if self.line_format is not None:
            parse_line_format(self.line_format)


def parse_line_format(line_format: str) -> list[str | None]:
    """Field names of ``line_format`` (None for ignored columns); user, item, rating required."""
    names = [ALIASES.get(_norm(tok)) for tok in line_format.split()]
    for need in ("user", "item", "rating"):
        if need not in names:
            raise ConfigError(f"line_format {line_format!r} lacks {need!r}")
    dup = {n for n in names if n is not None and names.count(n) > 1}
    if dup:
        raise ConfigError(f"line_format {line_format!r} repeats {sorted(dup)}")
    return names


def _norm(token: str) -> str:
    return token.strip().strip('"').lower().replace("_", "").replace("-", "")


def read_ratings(path: str | os.PathLike, reader: Reader | None = None) -> ParsedFile:
    """Read one raw rating file into a :class:`ParsedFile` (format detected per file)."""
    path = Path(path)
    reader = reader or Reader()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        (parsed, where), n_blank = _read_parquet(path), 0
    else:
        parsed, where, n_blank = _read_text(path, reader)
    return rules.apply(parsed, reader.rating_scale, str(path), n_blank, where)


ParsedFile = rules.ParsedFile


# -- text ---------------------------------------------------------------------------------------
def file_lines(path: Path) -> pl.DataFrame:
    """Every line of a text file (gzip allowed): ``line`` (from 1), ``raw`` and ``reason``.

    ``raw`` has its newline and CR stripped. Splits on ``\\n`` with numpy and wraps the bytes as
    an Arrow string array. If the file is not clean UTF-8 text (rare), lines are checked one by
    one: a line with an invalid byte or a NUL gets a ``reason`` and its bytes escaped in ``raw``.
    """
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip file ({exc})") from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if _is_text(data):
        buf = np.frombuffer(data, dtype=np.uint8)
        offsets = np.concatenate([[0], np.flatnonzero(buf == 10) + 1, [len(buf)]])
        if offsets[-1] == offsets[-2]:  # file ends with a newline: no line after it
            offsets = offsets[:-1]
        arr = pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)
        )
        raw, reason = pl.Series("raw", arr), pl.Series("reason", [None] * len(arr), pl.String)
    else:
        chunks = data.split(b"\n")[: -1 if data.endswith(b"\n") else None]
        checked = [_check_line(chunk) for chunk in chunks]
        raw = pl.Series("raw", [text for text, _ in checked], pl.String)
        reason = pl.Series("reason", [why for _, why in checked], pl.String)
    frame = pl.DataFrame([raw.str.strip_chars_end("\r\n"), reason])
    return frame.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64))


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _check_line(chunk: bytes) -> tuple[str, str | None]:
    """A line's text and, if it is not UTF-8 text, the reason naming its first bad byte."""
    try:
        text, first_bad = chunk.decode("utf-8"), len(chunk)
    except UnicodeDecodeError as exc:
        text, first_bad = chunk.decode("utf-8", "backslashreplace"), exc.start
    nul = chunk.find(b"\x00")
    first_bad = min(first_bad, nul) if nul >= 0 else first_bad
    if first_bad == len(chunk):
        return text, None
    return text, f"not UTF-8 text: byte 0x{chunk[first_bad]:02x} at column {first_bad + 1}"


def _sniff_sep(line: str) -> str | None:
    return next((sep for sep in SNIFF_SEPARATORS if sep in line), None)


def _header_format(fields: list[str]) -> list[str | None] | None:
    """Field names if ``fields`` look like a header (they name a user and an item column)."""
    names = [ALIASES.get(_norm(f)) for f in fields]
    return names if "user" in names and "item" in names else None


def _read_text(path: Path, reader: Reader) -> tuple[pl.DataFrame, dict[str, str], int]:
    """Parsed frame, field places and blank-line count; sep and header from the first text line."""
    frame = file_lines(path).slice(reader.skip_lines)
    blank = frame.get_column("raw").str.strip_chars().str.len_bytes() == 0
    n_blank = int(blank.sum())
    frame = frame.filter(~blank)
    text = frame.filter(pl.col("reason").is_null())
    if frame.height == 0:
        return rules.empty_parsed(), {}, n_blank
    first = text.get_column("raw")[0] if text.height else ""
    sep = reader.sep or _sniff_sep(first)
    if sep is None and text.height:
        where = f"{path}:{text.get_column('line')[0]}"
        raise DataError(f"{where}: cannot detect the field separator of {first[:80]!r}; set sep")
    sep = sep or "\t"  # no text line at all: every line is already quarantined
    header = _header_format(first.split(sep)) if text.height else None
    if header is not None:
        frame = frame.filter(pl.col("line") != text.get_column("line")[0])
    names = parse_line_format(reader.line_format) if reader.line_format else header
    if names is None:
        width = len(first.split(sep))
        names = [*FIELDS[:3], "timestamp"] if width >= 4 else list(FIELDS[:3])
        names += [None] * (width - len(names))
    where = {COLUMN[f]: f"column {names.index(f) + 1}" for f in FIELDS if f in names}
    return _split_fields(frame, sep, names, where), where, n_blank


def _split_fields(
    frame: pl.DataFrame, sep: str, names: list[str | None], where: dict[str, str]
) -> pl.DataFrame:
    parts = pl.col("raw").str.split(sep)
    cols = [
        parts.list.get(names.index(f), null_on_oob=True).str.strip_chars().alias(COLUMN[f])
        for f in FIELDS
        if f in names
    ]
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


# -- parquet ------------------------------------------------------------------------------------
def _read_parquet(path: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for corrupt files
        raise DataError(f"{path}: cannot read as Parquet ({exc})") from exc
    names = {ALIASES[_norm(c)]: c for c in frame.columns if _norm(c) in ALIASES}
    missing = [f for f in ("user", "item", "rating") if f not in names]
    if missing:
        raise DataError(f"{path}: Parquet file lacks column(s) for {missing}; has {frame.columns}")
    out = frame.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).alias("line"),
        *[
            pl.col(names[f]).cast(pl.String).str.strip_chars().alias(COLUMN[f])
            for f in FIELDS
            if f in names
        ],
    )
    out = out.with_columns(
        pl.concat_str(
            [pl.col(COLUMN[f]).fill_null("<null>") for f in FIELDS if f in names], separator=","
        ).alias("raw"),
        pl.lit(None, dtype=pl.String).alias("reason"),
    )
    where = {COLUMN[f]: f"column {names[f]!r}" for f in FIELDS if f in names}
    return rules.typed(out, where), where


def raw_files(folder: str | os.PathLike) -> list[Path]:
    """Raw rating files in ``folder``, sorted by name; hidden and temporary files are skipped."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
