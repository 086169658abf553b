"""Threads: EASE's fit (an m x m Cholesky) and scoring, and implicit's ALS, 1 vs 2 threads.

Run by hand::

    python -m benchmarks.bench_threads              # as the machine is found, then loaded
    python -m benchmarks.bench_threads --rounds 2 --busy 2

Data: the synthetic 1M set (``generate_ratings(6_040, 3_706, 1_000_000, seed=0)``). Each
(threads, load) cell runs in a fresh child started with ``OPENBLAS_NUM_THREADS`` and
``OMP_NUM_THREADS`` set to the thread count (OpenBLAS sizes its pool at start-up, so a child
started with 1 cannot be raised later) and ``threadpoolctl.threadpool_limits`` to the same;
implicit gets ``num_threads`` too. Times: EASE ``fit``; EASE top-10 for every user (the
scoring: one product per block of users); implicit ``fit`` (its defaults) and its top-10 for
every user. "loaded" adds ``--busy`` pure-Python busy loops (another engineer's CPU-bound jobs)
for the child's lifetime. Rounds alternate 1 and 2 threads; the load average is printed beside
every row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"


def child(threads: int) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_info, threadpool_limits

    from recsys_core.data.synthetic import generate_ratings
    from recsys_core.models.ease import EASE

    frame = generate_ratings(6_040, 3_706, 1_000_000, seed=0)
    out: dict = {}
    with threadpool_limits(limits=threads):
        out["blas"] = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        start = time.perf_counter()
        model = EASE().fit(frame)
        out["ease_fit"] = time.perf_counter() - start
        start = time.perf_counter()
        model.recommend(10)
        out["ease_top10"] = time.perf_counter() - start
        u = frame.get_column("user_id").to_numpy() - 1
        i = frame.get_column("item_id").to_numpy() - 1
        values = frame.get_column("rating").to_numpy().astype(np.float32)
        user_items = sp.csr_matrix((values, (u, i)))
        als = AlternatingLeastSquares(num_threads=threads, random_state=0)
        start = time.perf_counter()
        als.fit(user_items, show_progress=False)
        out["implicit_fit"] = time.perf_counter() - start
        start = time.perf_counter()
        users = np.arange(user_items.shape[0])
        als.recommend(users, user_items[users], N=10)
        out["implicit_top10"] = time.perf_counter() - start
    return out


def run(threads: int, busy: int) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        time.sleep(2 if busy else 0)  # let the busy loops show in the load average
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        cmd = [sys.executable, "-m", "benchmarks.bench_threads", "--child", str(threads)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--busy", type=int, default=2, help="busy loops for the loaded rows")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    rows = []
    for busy in (0, args.busy):
        for _ in range(args.rounds):
            for threads in (1, 2):
                rows.append({"threads": threads, "busy": busy, **run(threads, busy)})
                print(rows[-1], file=sys.stderr, flush=True)
    print(f"cores: {os.cpu_count()}; uptime: {os.popen('uptime').read().strip()}")
    cols = ("ease_fit", "ease_top10", "implicit_fit", "implicit_top10")
    print(f"{'threads':>7s} {'busy':>4s} " + " ".join(f"{c:>14s}" for c in cols) + "  load before")
    for r in rows:
        cells = " ".join(f"{r[c]:14.2f}" for c in cols)
        print(f"{r['threads']:7d} {r['busy']:4d} {cells}  {r['load']}  (blas pools {r['blas']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
