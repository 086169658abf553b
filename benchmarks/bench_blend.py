"""RatingBlend: fit and test-pair prediction times, RMSE and peak memory, per component too.

Run by hand: ``python -m benchmarks.bench_blend`` (ML-100k and a synthetic ML-1M-sized set), or
``python -m benchmarks.bench_blend --sizes synth-25m --config 25m`` for the 25M-rating set with
the cheaper set of components that the 25M configuration uses (no user-based KNN, 100
neighbours kept per item). ``--components`` also times each component alone (one fit on the
training split, then predict).

Each (data set, configuration) runs in its own subprocess so that its peak resident memory
(``VmHWM``) is its own; the split is written to Parquet first by the parent.
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

import numpy as np
import polars as pl

from benchmarks.datasets import prepare, rss_mb
from recsys_core.models.rating_blend import DEFAULT_RATING_COMPONENTS, RatingBlend
from recsys_core.models.registry import build

CONFIGS = {
    "default": {},
    "25m": {
        "components": {
            **DEFAULT_RATING_COMPONENTS,
            "knn_users": None,
            "knn_items": {
                **DEFAULT_RATING_COMPONENTS["knn_items"],
                "params": {
                    **DEFAULT_RATING_COMPONENTS["knn_items"]["params"],
                    "max_neighbors": 100,
                },
            },
            "knn_means": {
                **DEFAULT_RATING_COMPONENTS["knn_means"],
                "params": {
                    **DEFAULT_RATING_COMPONENTS["knn_means"]["params"],
                    "max_neighbors": 100,
                },
            },
        }
    },
}
"""Blend parameters by name; ``25m`` mirrors the 25M settings (a layer over the defaults)."""


def rmse(estimates: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((estimates - truth) ** 2)))


def run_one(size: str, config: str, components: bool, train_path: Path, test_path: Path) -> dict:
    """Fit the blend and predict the test pairs (and each component alone), in this process."""
    train, test = pl.read_parquet(train_path), pl.read_parquet(test_path)
    truth = test.get_column("rating").to_numpy()
    out: dict = {"data": size, "config": config, "data_mb": rss_mb(), "train": train.height}
    blend = RatingBlend(**CONFIGS[config])
    t, cpu = time.perf_counter(), time.process_time()
    blend.fit(train)
    out["fit_s"], out["fit_cpu"] = time.perf_counter() - t, time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    estimates = blend.predict(test)
    out["predict_s"], out["predict_cpu"] = time.perf_counter() - t, time.process_time() - cpu
    out["total_s"] = out["fit_s"] + out["predict_s"]
    out["rmse"] = rmse(estimates, truth)
    out["peak_mb"] = rss_mb()
    if components:
        for name, spec in blend.params.components.items():
            t = time.perf_counter()
            model = build(spec).fit(train)
            fit = time.perf_counter() - t
            t = time.perf_counter()
            est = model.predict(test)
            out[name] = {
                "fit_s": fit,
                "predict_s": time.perf_counter() - t,
                "rmse": rmse(est, truth),
            }
    return out


def run_in_subprocess(size: str, config: str, components: bool, train: Path, test: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_blend", "--child", size, config]
    cmd += [str(int(components)), str(train), str(test)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"data": size, "config": config, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(row: dict) -> str:
    if "error" in row:
        return f"{row['data']:>9} {row['config']:>8}  ERROR: {row['error']}"
    lines = [
        f"{row['data']:>9} {row['config']:>8}  train {row['train']:>10,}  fit {row['fit_s']:7.2f}"
        f"  predict {row['predict_s']:6.2f}  total {row['total_s']:7.2f}  rmse {row['rmse']:.4f}"
        f"  (cpu: fit {row['fit_cpu']:.1f}, predict {row['predict_cpu']:.1f})"
        f"  data {row['data_mb']:6.0f} MiB  peak {row['peak_mb']:6.0f} MiB"
    ]
    for name, part in row.items():
        if isinstance(part, dict):
            lines.append(
                f"{'':>19}{name:>10}  fit {part['fit_s']:7.2f}  predict {part['predict_s']:6.2f}"
                f"  rmse {part['rmse']:.4f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="ml-100k,synth-1m")
    parser.add_argument("--config", default="default", choices=sorted(CONFIGS))
    parser.add_argument("--components", action="store_true", help="time each component too")
    parser.add_argument("--cache", default=None, help="directory for the split Parquet files")
    parser.add_argument("--child", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, config, components, train, test = args.child
        row = run_one(size, config, components == "1", Path(train), Path(test))
        print(json.dumps(row))
        return
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "recsys-bench")
    cache.mkdir(parents=True, exist_ok=True)
    for size in args.sizes.split(","):
        train, test = prepare(size, cache)
        print(report(run_in_subprocess(size, args.config, args.components, train, test)))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cores: {os.cpu_count()}, load average at the end: {load}")
    print("seconds are wall time; cpu: CPU seconds of all threads")


if __name__ == "__main__":
    main()
