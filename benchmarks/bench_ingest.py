"""Ingest of one large CSV: wall time and peak resident memory of ``validate.ingest``.

Run by hand::

    python -m benchmarks.bench_ingest                  # 25M ratings (~620 MiB CSV), then deleted
    python -m benchmarks.bench_ingest --before b07afb2 # the same file also through an older commit
    python -m benchmarks.bench_ingest --ratings 1000000 --csv /tmp/r.csv --keep

The CSV is ``generate_ratings(162_541, 59_047, 25_000_000, seed=0)`` written with a header
(``user_id,item_id,rating,timestamp``). Each (code, repeat) runs ``ingest`` in a fresh child
process, so its peak RSS (``VmHWM``) is the ingest's own plus the interpreter and imports
(``base``: the child's RSS before ingest). ``--before REF`` exports ``recsys_core`` at that git
commit to a temporary folder and alternates it with this checkout, so the ratio is measured in
one run. The machine is shared: the load average is printed beside every row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.datasets import rss_mb

ROOT = Path(__file__).resolve().parents[1]


def write_csv(path: Path, n_ratings: int) -> None:
    from recsys_core.data.synthetic import generate_ratings

    users, items = (162_541, 59_047) if n_ratings > 1_000_000 else (6_040, 3_706)
    generate_ratings(users, items, n_ratings, seed=0).write_csv(path)


def child(path: Path) -> dict:
    import recsys_core
    from recsys_core.data.validate import ingest

    base = rss_mb()
    start = time.perf_counter()
    out = ingest([path])
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "peak_mib": rss_mb(),
        "base_mib": base,
        "ratings": out.ratings.height,
        "output_mib": out.ratings.estimated_size() / 2**20,
        "code_path": str(Path(recsys_core.__file__).parent),
    }


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def export(ref: str, into: Path) -> Path:
    """``recsys_core`` as of git ``ref``, written under ``into`` (a PYTHONPATH entry)."""
    archive = subprocess.run(
        ["git", "archive", ref, "recsys_core"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(path: Path, code: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_ingest", "--child", str(path.resolve())]
    env = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{ROOT}"}
    before = load()  # cwd=code: `python -m` puts the working directory first on sys.path
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=code, env=env)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--csv", help="CSV to read (written first if it does not exist)")
    parser.add_argument("--keep", action="store_true", help="do not delete the CSV afterwards")
    parser.add_argument("--before", help="a git commit to measure beside this checkout")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return 0
    path = Path(args.csv or Path(tempfile.gettempdir()) / f"recsys-ingest-{args.ratings}.csv")
    if not path.exists():
        write_csv(path, args.ratings)
    size_mib = path.stat().st_size / 2**20
    rows = []
    with tempfile.TemporaryDirectory(prefix="recsys-before-") as tmp:
        codes = {"this checkout": ROOT}
        if args.before:
            codes = {args.before: export(args.before, Path(tmp)), **codes}
        try:
            for _ in range(args.repeat):
                for name, code in codes.items():
                    rows.append({"code": name, **run(path, code)})
                    print(rows[-1], file=sys.stderr, flush=True)
        finally:
            if not args.keep:
                path.unlink()
    print(f"{path.name}: {size_mib:,.0f} MiB CSV; uptime: {os.popen('uptime').read().strip()}")
    head = ("code", "ratings", "wall_s", "peak_mib", "base_mib", "out_mib", "load before")
    print(f"{head[0]:>14s} {head[1]:>11s} {head[2]:>7s} {head[3]:>9s} {head[4]:>9s} "
          f"{head[5]:>8s}  {head[6]}")  # fmt: skip
    for r in rows:
        print(f"{r['code']:>14s} {r['ratings']:>11,d} {r['wall_s']:7.1f} {r['peak_mib']:9.0f} "
              f"{r['base_mib']:9.0f} {r['output_mib']:8.0f}  {r['load']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
