"""Helpers of the bad-input corpus (tests/test_bad_input.py: bad values; tests/test_bad_files.py:
bad files): the good rows every case is mixed with, and how a case reads its outcome."""

from __future__ import annotations

from pathlib import Path

from recsys_core.data.readers import Reader
from recsys_core.data.validate import Validated, ingest

GOOD = "1\t10\t4\t100\n2\t20\t3\t200\n"
GOOD_ROWS = [(1, 10, 4.0, 100), (2, 20, 3.0, 200)]


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` as given (``str`` as UTF-8 with no newline translation)."""
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(*paths: Path, reader: Reader | None = None) -> Validated:
    """Ingest with no bad-row limit, to see every quarantine row (the limit has its own test)."""
    return ingest(paths, reader, max_bad_fraction=1.0)


def quarantined(result: Validated) -> list[tuple[str, int, str]]:
    rows = result.quarantine.select("file", "line", "reason").iter_rows()
    return [(Path(f).name, ln, why) for f, ln, why in rows]


def counts(rows: int, bad: int = 0, blank: int = 0, files: int = 1, dup: int = 0) -> dict:
    return {
        "files": files,
        "rows_read": rows,
        "blank_lines": blank,
        "bad_rows": bad,
        "duplicates_superseded": dup,
        "ratings": rows - bad - dup,
    }
