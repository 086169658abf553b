"""The benchmark data sets and measurements shared by every benchmark script.

Sizes: ML-100k (``../shared``), and seeded synthetic sets the size of ML-1M and ML-25M. Splits
are the quality protocol's seeded random 80/20.
"""

from __future__ import annotations

import resource
from pathlib import Path

import polars as pl

from recsys_core.data.split import random_split
from recsys_core.data.synthetic import generate_ratings

ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k" / "u.data"
SYNTHETIC = {
    "synth-1m": (6_040, 3_706, 1_000_000),
    "synth-25m": (162_541, 59_047, 25_000_000),
}
SEED = 42


def load(size: str) -> pl.DataFrame:
    """The ratings of a benchmark data set (synthetic ones are seeded)."""
    if size == "ml-100k":
        frame = pl.read_csv(
            ML100K,
            separator="\t",
            has_header=False,
            new_columns=["user_id", "item_id", "rating", "timestamp"],
        )
        return frame.with_columns(pl.col("rating").cast(pl.Float64))
    n_users, n_items, n_ratings = SYNTHETIC[size]
    return generate_ratings(n_users, n_items, n_ratings, seed=0)


def prepare(size: str, cache: Path) -> tuple[Path, Path]:
    """Train/test Parquet files for ``size`` (written once per cache directory)."""
    train, test = cache / f"{size}-train.parquet", cache / f"{size}-test.parquet"
    if not (train.exists() and test.exists()):
        split = random_split(load(size), 0.2, random_state=SEED)
        split.train.write_parquet(train)
        split.test.write_parquet(test)
    return train, test


def rss_mb() -> float:
    """Peak RSS of this process, MiB: ``VmHWM``, which starts afresh at ``exec``.

    (``getrusage``'s ``ru_maxrss`` survives ``fork`` + ``exec`` on Linux, so a child of a parent
    that had just generated the 25M set would report the parent's peak.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def format_rows(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    """Right-aligned text table of benchmark rows (``cols``: name, format); a row with an
    ``error`` prints it after its data and model."""
    cells = [[c for c, _ in cols]]
    for row in rows:
        if "error" in row:
            cells.append([row["data"], row["model"], "ERROR: " + row["error"]])
            continue
        cells.append([fmt.format(row[c]) if c in row else "-" for c, fmt in cols])
    widths = [max(len(r[j]) for r in cells if j < len(r)) for j in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=False)) for r in cells)
