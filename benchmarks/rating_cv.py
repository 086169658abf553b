"""Cross-validated RMSE/MAE and cost of rating-model configurations, on TRAINING data only.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m benchmarks.rating_cv [--only a,b]
        [--data ml-100k-train,synth-250k] [--folds 5] [--out rows.jsonl] [--table rows.jsonl]

How the defaults of :class:`recsys_core.models.rating_blend.RatingBlend` and
:class:`recsys_core.SVD` are chosen (docs/benchmarks.md, "models/rating_blend"). No test split
is read:

- ``ml-100k-train``: the TRAIN part of the held-out protocol's split of ML-100k
  (:func:`benchmarks.heldout.split_lines`: rows in file order, ``perm =
  default_rng(42).permutation(n)``, the rows at ``perm[: n // 5]`` are the test part); only the
  train file is read back;
- ``synth-250k``: ``generate_ratings(3_000, 1_800, 250_000, seed=0)``, the density of ML-1M
  (4.6 %) with half of its users and items, so that a run stays short.

Each data set is cut into ``--folds`` (5) seeded folds (:func:`recsys_core.data.split.kfold`,
``random_state=0``); every candidate is fitted on the other folds and scored on the held fold:
RMSE, MAE, and the wall / CPU seconds of fit + predict. One process on one thread, candidates
in a fixed order per fold, so the seconds compare within a data set.

The candidates are spelled out here in full (not relative to the current defaults), so the
table stays reproducible when a default changes: ``blend`` is the blend's default before the
cross-validation (chosen on a test split), the other ``blend-*`` rows change one or two things
of it (``blend-25m``: the 25M configuration, no ``knn_users`` and 100 neighbours kept per item
in both item-based KNN components); ``mf`` is :class:`recsys_core.SVD`'s default before the
cross-validation (ALS, 30 factors, 8 epochs, ``reg_all`` 0.12), the ``mf-*`` rows its
neighbours. How the table chose the defaults: docs/benchmarks.md, "models/rating_blend".
``--out`` appends the per-fold rows to a JSON-lines file and ``--table`` summarises such a file
(several runs together).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.datasets import ML100K, SYNTHETIC
from benchmarks.heldout import split_lines
from recsys_core.data.split import kfold
from recsys_core.data.synthetic import generate_ratings
from recsys_core.data.validate import ingest
from recsys_core.evaluation.metrics import mae, rmse
from recsys_core.models.registry import build

BLEND = {
    "svd": {"model": "SVD", "params": {"n_factors": 20, "n_epochs": 8, "reg_all": 0.12}},
    "knn_items": {
        "model": "KNNBaseline",
        "params": {"sim_options": {"name": "pearson_baseline"}, "max_neighbors": 40},
    },
    "knn_users": {
        "model": "KNNBaseline",
        "params": {"sim_options": {"name": "msd", "user_based": True}, "max_neighbors": 100},
        "keep_similarities": True,
    },
    "knn_means": {
        "model": "KNNWithMeans",
        "params": {"sim_options": {"name": "msd"}, "max_neighbors": 40},
        "keep_similarities": True,
    },
    "baseline": {"model": "BaselineOnly", "params": {}},
}
"""The blend's components before the cross-validation, every inherited SVD value spelled out."""

MF = {"model": "SVD", "params": {"n_factors": 30, "n_epochs": 8, "reg_all": 0.12}}
"""``SVD()`` before the cross-validation (ALS), spelled out."""


def blend_with(*changes: tuple[str, str, Any]) -> dict:
    """``BLEND`` with ``(component, key, value)`` changes: key ``params.x`` sets a parameter,
    ``keep_similarities`` the flag; component None drops ``key`` (a component name)."""
    comps = copy.deepcopy(BLEND)
    for name, key, value in changes:
        if name is None:
            del comps[key]
        elif key.startswith("params."):
            comps[name]["params"][key.removeprefix("params.")] = value
        elif value:
            comps[name][key] = value
        else:
            comps[name].pop(key, None)
    return {"model": "RatingBlend", "params": {"components": comps}}


def mf_with(**params: Any) -> dict:
    return {"model": "SVD", "params": {**MF["params"], **params}}


CANDIDATES = {
    "blend": blend_with(),
    "blend-items100": blend_with(("knn_items", "params.max_neighbors", 100)),
    "blend-svd10": blend_with(("svd", "params.n_factors", 10)),
    "blend-svd30": blend_with(("svd", "params.n_factors", 30)),
    "blend-no-users": blend_with((None, "knn_users", None)),
    "blend-keep-none": blend_with(
        ("knn_users", "keep_similarities", False), ("knn_means", "keep_similarities", False)
    ),
    "blend-keep-means": blend_with(("knn_users", "keep_similarities", False)),
    "blend-keep-all": blend_with(("knn_items", "keep_similarities", True)),
    "blend-unpruned": blend_with(
        ("knn_items", "params.max_neighbors", None),
        ("knn_users", "params.max_neighbors", None),
        ("knn_means", "params.max_neighbors", None),
    ),
    "blend-items100-keep-none": blend_with(
        ("knn_items", "params.max_neighbors", 100),
        ("knn_users", "keep_similarities", False),
        ("knn_means", "keep_similarities", False),
    ),
    "blend-items100-keep-all": blend_with(
        ("knn_items", "params.max_neighbors", 100), ("knn_items", "keep_similarities", True)
    ),
    "blend-items100-svd10": blend_with(
        ("knn_items", "params.max_neighbors", 100), ("svd", "params.n_factors", 10)
    ),
    "blend-items100-svdreg10": blend_with(
        ("knn_items", "params.max_neighbors", 100), ("svd", "params.reg_all", 0.10)
    ),
    "blend-25m": blend_with(
        (None, "knn_users", None),
        ("knn_items", "params.max_neighbors", 100),
        ("knn_means", "params.max_neighbors", 100),
    ),
    "mf": mf_with(),
    "mf-f20": mf_with(n_factors=20),
    "mf-f50": mf_with(n_factors=50),
    "mf-reg08": mf_with(reg_all=0.08),
    "mf-reg16": mf_with(reg_all=0.16),
    "mf-reg10": mf_with(reg_all=0.10),
    "mf-reg14": mf_with(reg_all=0.14),
    "mf-f50-reg10": mf_with(n_factors=50, reg_all=0.10),
    "mf-f50-reg14": mf_with(n_factors=50, reg_all=0.14),
    "mf-reg11": mf_with(reg_all=0.11),
    "mf-f40-reg10": mf_with(n_factors=40, reg_all=0.10),
    "mf-f40-reg11": mf_with(n_factors=40, reg_all=0.11),
    "mf-f50-reg09": mf_with(n_factors=50, reg_all=0.09),
    "mf-f50-reg11": mf_with(n_factors=50, reg_all=0.11),
    "mf-f40-reg11-e5": mf_with(n_factors=40, reg_all=0.11, n_epochs=5),
    "mf-f40-reg11-e12": mf_with(n_factors=40, reg_all=0.11, n_epochs=12),
}
"""Name -> model spec (``{"model", "params"}``), in the order they run."""


def ml100k_train() -> pl.DataFrame:
    """The train part of the held-out protocol's ML-100k split (the test file is not read)."""
    with tempfile.TemporaryDirectory(prefix="rating-cv-") as tmp:
        train_file, _ = split_lines(ML100K, Path(tmp))
        return ingest([train_file]).ratings


DATA: dict[str, Callable[[], pl.DataFrame]] = {
    "ml-100k-train": ml100k_train,
    "synth-250k": lambda: generate_ratings(3_000, 1_800, 250_000, seed=0),
    "synth-1m": lambda: generate_ratings(*SYNTHETIC["synth-1m"], seed=0),
    "synth-taste": lambda: generate_ratings(
        3_000, 1_800, 250_000, n_factors=16, taste_selection=4.0, seed=0
    ),
}
"""The data sets. Checks of the finalists, not in the default run: ``synth-1m``
(benchmarks/datasets.py's ML-1M-sized set: the cost at the 1M night's size) and
``synth-taste`` (benchmarks/defaults_cv.py's ``synth-dense``: 16 latent factors, and people
mostly rate what suits them)."""

CHOOSING = ("ml-100k-train", "synth-250k")
"""The data sets whose cross-validated RMSE chooses (the default ``--data``)."""


def score(spec: dict, train: pl.DataFrame, held: pl.DataFrame) -> dict[str, float]:
    """Fit ``spec`` on ``train``, predict ``held``: RMSE, MAE, wall and CPU seconds."""
    t, cpu = time.perf_counter(), time.process_time()
    estimates = build(spec).fit(train).predict(held)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    truth = held.get_column("rating").to_numpy()
    return {"rmse": rmse(truth, estimates), "mae": mae(truth, estimates), "s": wall, "cpu": cpu}


def run(data: str, names: list[str], folds: int) -> list[dict]:
    """One row per (candidate, fold) of ``data``."""
    ratings = DATA[data]()
    print(f"{data}: {ratings.height:,} ratings, {folds} folds", flush=True)
    rows = []
    for k, split in enumerate(kfold(ratings, folds, random_state=0)):
        for name in names:
            row = {"data": data, "model": name, "fold": k}
            rows.append(row | score(CANDIDATES[name], split.train, split.test))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict]) -> pl.DataFrame:
    """Per (data, model): mean, best and worst fold RMSE, mean MAE and seconds, and the gap of the
    mean RMSE to the best mean RMSE of the same family (``blend`` / ``mf``) on that data."""
    frame = pl.DataFrame(rows).with_columns(family=pl.col("model").str.extract(r"^(\w+)"))
    table = frame.group_by("data", "family", "model", maintain_order=True).agg(
        rmse=pl.col("rmse").mean(),
        rmse_min=pl.col("rmse").min(),
        rmse_max=pl.col("rmse").max(),
        mae=pl.col("mae").mean(),
        s=pl.col("s").mean(),
        cpu=pl.col("cpu").mean(),
    )
    best = pl.col("rmse").min().over("data", "family")
    return table.with_columns(gap=pl.col("rmse") - best)


def show(rows: list[dict]) -> None:
    """Print the summary of ``rows`` per data set, and the mean and worst gap over the data sets
    that choose (``CHOOSING``)."""
    table = summary(rows)
    across = (
        table.filter(pl.col("data").is_in(CHOOSING))
        .group_by("family", "model", maintain_order=True)
        .agg(mean_gap=pl.col("gap").mean(), worst_gap=pl.col("gap").max(), n_data=pl.len())
    )
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(table.with_columns(pl.col(pl.Float64).round(4)))
        print(across.with_columns(pl.col(pl.Float64).round(4)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=",".join(CHOOSING))
    parser.add_argument("--only", default=",".join(CANDIDATES), help="candidate names")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="append the rows here (JSON lines)")
    parser.add_argument("--table", type=Path, default=None, help="only summarise these rows")
    args = parser.parse_args(argv)
    if args.table:
        show(pl.read_ndjson(args.table).to_dicts())
        return
    names = args.only.split(",")
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
    rows = [row for data in args.data.split(",") for row in run(data, names, args.folds)]
    if args.out:
        with args.out.open("a") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    show(rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"cores {os.cpu_count()}, OPENBLAS_NUM_THREADS {threads}, load at the end: {load}")
    print(f"seconds: fit + predict of one fold, wall; cpu: CPU seconds (numpy {np.__version__})")


if __name__ == "__main__":
    main()
