"""Matrix factorisation (SVD, PureSVD): fit, test-pair prediction and all-user top-10 times,
peak memory, and accuracy.

Run by hand: ``python -m benchmarks.bench_svd`` (ML-100k and a synthetic ML-1M-sized set), or
``python -m benchmarks.bench_svd --sizes ml-100k,synth-1m,synth-25m`` to add the 25M-rating set
(162,541 users x 59,047 items; a few minutes). ``--repeat 3`` keeps each row's fastest run.

Each (data set, model) runs in its own subprocess so that its peak resident memory
(``VmHWM``, see :func:`rss_mb`) is its own: the parent writes the seeded 80/20 split to Parquet
first, and the child reports the peak after reading it (``data MB``) and at the end (``peak MB``).
``fit_cpu_s`` is the fit's CPU time (all threads): on a shared machine, wall times vary with
the load of other processes, CPU times much less. The ``svd-sgd-*`` rows fit once on 1,000
ratings first, so numba's start-up and compile stay outside the timed fit
(``benchmarks/bench_surprise.py`` times them).
"""

from __future__ import annotations

import argparse
import json
import os
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
from recsys_core import SVD, Popularity, PureSVD, Recommender
from recsys_core.evaluation.protocol import evaluate, metric

SURPRISE = {"solver": "sgd", "n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02}
TUNED_SGD = {"solver": "sgd", "n_factors": 100, "n_epochs": 30, "lr_all": 0.01, "reg_all": 0.1}
MODELS: dict[str, Callable[[], Recommender]] = {
    "popularity": lambda: Popularity(),
    "svd-als": lambda: SVD(),
    "svd-als-k50": lambda: SVD(n_factors=50),
    "svd-sgd-surprise": lambda: SVD(**SURPRISE),
    "svd-sgd-tuned": lambda: SVD(**TUNED_SGD),
    "pure-svd": lambda: PureSVD(),
}
PLAN = {
    "ml-100k": [
        "popularity",
        "svd-als",
        "svd-als-k50",
        "svd-sgd-surprise",
        "svd-sgd-tuned",
        "pure-svd",
    ],
    "synth-1m": ["svd-als", "svd-als-k50", "svd-sgd-surprise", "pure-svd"],
    "synth-25m": ["svd-als", "pure-svd"],
}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run_one(size: str, model_name: str, train_path: Path, test_path: Path) -> dict:
    """Fit, predict the test pairs, top-10 for every user; in this process."""
    train, test = pl.read_parquet(train_path), pl.read_parquet(test_path)
    out: dict = {"data": size, "model": model_name, "data_mb": rss_mb()}
    model = MODELS[model_name]()
    if isinstance(model, SVD) and model.params.solver == "sgd":
        SVD(**{**SURPRISE, "n_epochs": 1}).fit(train.head(1000))  # numba start-up, untimed
    cpu = cpu_s()
    _, out["fit_s"] = timed(lambda: model.fit(train))
    out["fit_cpu_s"] = cpu_s() - cpu
    estimates, out["predict_s"] = timed(lambda: model.predict(test))
    recs, out["top10_s"] = timed(lambda: model.recommend(10))
    out["peak_mb"] = rss_mb()
    actual = test.get_column("rating").to_numpy()
    if np.isfinite(estimates).all():
        out["rmse"] = float(np.sqrt(np.mean((estimates - actual) ** 2)))
    out["users"], out["items"] = model.data.n_users, model.data.n_items
    out["train"], out["recs"] = train.height, recs.height
    if size == "ml-100k":
        frame = evaluate(model, test, model_name)
        out["ndcg10"] = metric(frame, model_name, "ndcg", 10)
        if "rmse" in out:
            out["mae"] = metric(frame, model_name, "mae", None)
    return out


def run_in_subprocess(size: str, model_name: str, train: Path, test: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_svd", "--child", size, model_name]
    cmd += [str(train), str(test)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"data": size, "model": model_name, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fastest(runs: list[dict]) -> dict:
    """The run with the smallest fit + top-10 time; peak memory is the largest seen."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = min(ok, key=lambda r: r["fit_s"] + r["top10_s"])
    return {**best, "peak_mb": max(r["peak_mb"] for r in ok), "runs": len(ok)}


def table(rows: list[dict]) -> str:
    cols = [
        ("data", "{}"), ("model", "{}"), ("users", "{}"), ("items", "{}"),
        ("train", "{}"), ("fit_s", "{:.2f}"), ("fit_cpu_s", "{:.2f}"), ("predict_s", "{:.2f}"),
        ("top10_s", "{:.2f}"),
        ("data_mb", "{:.0f}"), ("peak_mb", "{:.0f}"), ("rmse", "{:.4f}"), ("mae", "{:.4f}"),
        ("ndcg10", "{:.4f}"),
    ]  # fmt: skip
    return format_rows(rows, cols)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="ml-100k,synth-1m")
    parser.add_argument("--models", default=None, help="comma-separated subset of the plan")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the fastest is kept")
    parser.add_argument("--cache", default=None, help="directory for the split Parquet files")
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, model_name, train, test = args.child
        print(json.dumps(run_one(size, model_name, Path(train), Path(test))))
        return
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "recsys-bench")
    cache.mkdir(parents=True, exist_ok=True)
    wanted = set(args.models.split(",")) if args.models else None
    rows = []
    for size in args.sizes.split(","):
        train, test = prepare(size, cache)
        for model_name in PLAN[size]:
            if wanted is None or model_name in wanted:
                runs = [run_in_subprocess(size, model_name, train, test)]
                runs += [
                    run_in_subprocess(size, model_name, train, test)
                    for _ in range(args.repeat - 1)
                    if "error" not in runs[0]
                ]
                rows.append(fastest(runs))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"cores: {os.cpu_count()}; seconds (fastest of {args.repeat}); memory: max RSS, MiB")
    print(table(rows))


if __name__ == "__main__":
    main()
