"""Item-based KNN: fit, test-pair prediction and all-user top-10 times, and peak memory.

Run by hand: ``python -m benchmarks.bench_knn`` (ML-100k and a synthetic ML-1M-sized set), or
``python -m benchmarks.bench_knn --sizes ml-100k,synth-1m,synth-25m`` to add the 25M-rating set
(about 162k users x 59k items; needs ``max_neighbors``; about 15 minutes on 2 cores).

Each (data set, model) runs in its own subprocess so that its peak resident memory
(``getrusage`` max RSS) is its own: the parent writes the seeded 80/20 split to Parquet first,
and the child reports the RSS after reading it (``data MB``) and at the end (``peak MB``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.datasets import format_rows, prepare, rss_mb
from recsys_core import KNNBaseline, KNNWithMeans, Popularity
from recsys_core.evaluation.protocol import evaluate, metric

MODELS = {
    "popularity": lambda: Popularity(),
    "knn-means-msd": lambda: KNNWithMeans(sim_options={"name": "msd"}),
    "knn-baseline-pb": lambda: KNNBaseline(sim_options={"name": "pearson_baseline"}),
    "knn-means-msd-top100": lambda: KNNWithMeans(sim_options={"name": "msd"}, max_neighbors=100),
    "knn-means-msd-top100-rated": lambda: KNNWithMeans(
        sim_options={"name": "msd"}, max_neighbors=100, rank_neighbors="rated"
    ),
}
PLAN = {
    "ml-100k": ["popularity", "knn-means-msd", "knn-baseline-pb"],
    "synth-1m": ["knn-means-msd", "knn-baseline-pb"],
    "synth-25m": ["knn-means-msd-top100-rated", "knn-means-msd-top100"],
}


@contextmanager
def timed(out: dict, name: str) -> Iterator[None]:
    """Record wall seconds as ``{name}_s`` and this process's CPU seconds as ``{name}_cpu``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    out[f"{name}_s"] = time.perf_counter() - wall
    out[f"{name}_cpu"] = time.process_time() - cpu


def run_one(size: str, model_name: str, train_path: Path, test_path: Path) -> dict:
    """Fit, predict the test pairs, top-10 for every user; in this process."""
    train, test = pl.read_parquet(train_path), pl.read_parquet(test_path)
    out = {"data": size, "model": model_name, "data_mb": rss_mb()}
    model = MODELS[model_name]()
    with timed(out, "fit"):
        model.fit(train)
    with timed(out, "predict"):
        estimates = model.predict(test)
    with timed(out, "top10"):
        recs = model.recommend(10)
    out["peak_mb"] = rss_mb()
    actual = test.get_column("rating").to_numpy()
    out["rmse"] = float(np.sqrt(np.mean((estimates - actual) ** 2)))
    out["users"], out["items"] = model.data.n_users, model.data.n_items
    out["train"], out["recs"] = train.height, recs.height
    if size == "ml-100k":
        out["ndcg10"] = metric(evaluate(model, test, model_name), model_name, "ndcg", 10)
    return out


def run_in_subprocess(size: str, model_name: str, train: Path, test: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_knn", "--child", size, model_name]
    cmd += [str(train), str(test)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"data": size, "model": model_name, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    cols = [
        ("data", "{}"), ("model", "{}"), ("users", "{}"), ("items", "{}"), ("train", "{}"),
        ("fit_s", "{:.2f}"), ("fit_cpu", "{:.2f}"), ("predict_s", "{:.2f}"),
        ("predict_cpu", "{:.2f}"), ("top10_s", "{:.2f}"), ("top10_cpu", "{:.2f}"),
        ("data_mb", "{:.0f}"), ("peak_mb", "{:.0f}"), ("rmse", "{:.4f}"), ("ndcg10", "{:.4f}"),
    ]  # fmt: skip
    return format_rows(rows, cols)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="ml-100k,synth-1m")
    parser.add_argument("--models", default=None, help="comma-separated subset of the plan")
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
                rows.append(run_in_subprocess(size, model_name, train, test))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cores: {os.cpu_count()}, load average at the end: {load}")
    print("*_s: wall seconds, *_cpu: CPU seconds of the process (all threads), memory: MiB")
    print(table(rows))


if __name__ == "__main__":
    main()
