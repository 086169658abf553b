"""Raw text files as numbered lines, read in bounded batches.

A file (gzip allowed, a UTF-8 BOM dropped) is read in batches of about :data:`BATCH_BYTES`, cut
at line ends, so memory follows the batch, not the file. Every line keeps its number; a line that
is not UTF-8 text (an invalid byte or a NUL) gets a ``reason`` and its bytes escaped as ``\\xNN``
in ``raw`` instead of being read with replaced characters.
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from recsys_core.errors import DataError

BATCH_BYTES = 1 << 25
"""Bytes of text per batch (32 MiB: about 1.4M MovieLens-like lines)."""


def file_lines(path: Path) -> pl.DataFrame:
    """Every line of a text file (gzip allowed): ``line`` (from 1), ``raw`` and ``reason``.

    The whole file at once, for inspection; the readers go batch by batch (:func:`line_batches`).
    """
    return pl.concat(list(line_batches(path)))


def line_batches(path: Path) -> Iterator[pl.DataFrame]:
    """:func:`_lines` of each byte batch of the file, numbered on from the previous batch."""
    first_line = 1
    for data in _byte_batches(path):
        frame = _lines(data, first_line)
        first_line += frame.height
        yield frame


def _byte_batches(path: Path) -> Iterator[bytes]:
    """The file's bytes (gunzipped, UTF-8 BOM removed) in pieces of about :data:`BATCH_BYTES`,
    each ending at a newline except perhaps the last (a cut last line)."""
    with path.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream = gzip.GzipFile(fileobj=fh) if gzipped else fh
        rest, first = b"", True
        while True:
            try:
                block = stream.read(max(BATCH_BYTES, 4) if first else BATCH_BYTES)
            except (OSError, EOFError) as exc:
                raise DataError(f"{path}: corrupt gzip file ({exc})") from exc
            if first and block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8) :]
            first = False
            if not block:
                if rest:
                    yield rest
                return
            data = rest + block if rest else block
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            rest = data[cut:]


def _lines(data: bytes, first_line: int) -> pl.DataFrame:
    """Lines of ``data`` (whole lines): ``line`` (from ``first_line``), ``raw`` and ``reason``.

    ``raw`` has its newline and CR stripped. Splits on ``\\n`` with numpy and wraps the bytes as
    an Arrow string array. If the bytes are not clean UTF-8 text (rare), lines are checked one by
    one: a line with an invalid byte or a NUL gets a ``reason`` and its bytes escaped in ``raw``.
    """
    if _is_text(data):
        buf = np.frombuffer(data, dtype=np.uint8)
        offsets = np.concatenate([[0], np.flatnonzero(buf == 10) + 1, [len(buf)]])
        if offsets[-1] == offsets[-2]:  # ends with a newline: no line after it
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
    frame = frame.with_row_index("line", offset=first_line)
    return frame.with_columns(pl.col("line").cast(pl.Int64))


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
