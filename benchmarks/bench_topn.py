"""All-user top-10 time of the ranking models (PureSVD, SVD, the hybrid) and its peak memory.

Run by hand: ``python -m benchmarks.bench_topn`` (synthetic ML-1M-sized set), or
``python -m benchmarks.bench_topn --sizes synth-25m --users 20000`` to time 20,000 of the 25M
set's 162,541 users (evenly spaced) and extrapolate linearly to all of them (``all_s``).

Each (data set, model) runs in its own subprocess, so ``peak_mb`` (``VmHWM``) is its own; it
includes the data and the fitted model (``base_mb``, read before ranking). Fitted models are
saved to the cache directory and reloaded by later runs (``fit_s`` is then empty), so a 25M
fit is paid once. ``cpu_s`` is the ranking's CPU time: on a shared machine wall times vary
with the load of other processes, CPU times less. ``digest`` hashes the lists (users, ranks,
items, scores) to compare two versions of the code on the same data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.datasets import format_rows, prepare, rss_mb
from recsys_core import SVD, PureSVD, Recommender
from recsys_core.ranking.hybrid import Hybrid

KNN = {"max_neighbors": 100, "rank_neighbors": "rated"}
HYBRID = {
    "item_knn": {"model": "KNNWithMeans", "params": {"k": 40, **KNN}},
    "pure_svd": {"model": "PureSVD", "params": {}},
    "popularity": {"model": "Popularity", "params": {}},
}
MODELS: dict[str, Callable[[], Recommender]] = {
    "pure-svd": lambda: PureSVD(),
    "svd-als": lambda: SVD(),
    "hybrid": lambda: Hybrid(components=HYBRID, tune=False),
}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def digest(top: object) -> str:
    h = hashlib.sha256()
    for name in ("users", "ranks", "items", "scores"):
        h.update(np.ascontiguousarray(getattr(top, name)).tobytes())
    return h.hexdigest()[:12]


def run_one(size: str, model_name: str, train_path: Path, cache: Path, args: dict) -> dict:
    """Load (or fit and save) the model, then time top-10 for the chosen users."""
    out: dict = {"data": size, "model": model_name}
    saved = cache / f"{size}-{model_name}.npz"
    if saved.exists():
        model = Recommender.load(saved)
    else:
        train = pl.read_parquet(train_path)
        start = time.perf_counter()
        model = MODELS[model_name]().fit(train)
        out["fit_s"] = time.perf_counter() - start
        del train
        model.save(saved)
    n_users = model.data.n_users
    idx = np.arange(n_users, dtype=np.int64)
    if args["users"] and args["users"] < n_users:
        idx = np.unique(np.linspace(0, n_users - 1, args["users"]).astype(np.int64))
    out["base_mb"] = rss_mb()
    cpu, start = cpu_s(), time.perf_counter()
    top = model._topn(idx, 10, args["block_size"])
    out["top10_s"] = time.perf_counter() - start
    out["cpu_s"] = cpu_s() - cpu
    out["peak_mb"] = rss_mb()
    out["users"], out["all_users"], out["items"] = len(idx), n_users, model.data.n_items
    out["all_s"] = out["top10_s"] * n_users / len(idx)
    out["rows"], out["digest"] = len(top.users), digest(top)
    return out


def table(rows: list[dict]) -> str:
    cols = [
        ("data", "{}"), ("model", "{}"), ("users", "{}"), ("all_users", "{}"), ("items", "{}"),
        ("fit_s", "{:.1f}"), ("top10_s", "{:.2f}"), ("cpu_s", "{:.2f}"), ("all_s", "{:.1f}"),
        ("base_mb", "{:.0f}"), ("peak_mb", "{:.0f}"), ("rows", "{}"), ("digest", "{}"),
    ]  # fmt: skip
    return format_rows(rows, cols)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="synth-1m")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--users", type=int, default=0, help="time this many users (0: all)")
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--cache", default=None, help="directory for splits and fitted models")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "recsys-bench")
    cache.mkdir(parents=True, exist_ok=True)
    opts = {"users": args.users, "block_size": args.block_size}
    if args.child:
        size, model_name, train = args.child
        print(json.dumps(run_one(size, model_name, Path(train), cache, opts)))
        return
    rows = []
    for size in args.sizes.split(","):
        train, _ = prepare(size, cache)
        for model_name in args.models.split(","):
            cmd = [sys.executable, "-m", "benchmarks.bench_topn", "--child", size, model_name]
            cmd += [str(train), "--cache", str(cache), "--users", str(args.users)]
            cmd += ["--block-size", str(args.block_size)] if args.block_size else []
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                err = done.stderr.strip().splitlines()[-1]
                rows.append({"data": size, "model": model_name, "error": err})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print("seconds; all_s = top10_s x all_users / users; memory: peak RSS (VmHWM), MiB")
    print(table(rows))


if __name__ == "__main__":
    main()
