"""The per-night hybrid (``choose_settings`` then the kept components refitted) on the held-out
protocol of :mod:`benchmarks.heldout`, beside popularity; and its time on a synthetic set.

    python -m benchmarks.bench_hybrid_select /work/shared/data/ml-100k/u.data
    python -m benchmarks.bench_hybrid_select --synthetic 6040,3706,1000000

Default settings (``Settings()``: EASE + iALS candidates, default budget) unless
``--budget``. Only the train part chooses anything; the test part scores the final lists.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.heldout import THRESHOLD, K, split_lines
from recsys_core import Hybrid, Popularity
from recsys_core.data.split import random_split
from recsys_core.data.synthetic import generate_ratings
from recsys_core.data.validate import ingest
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.ranking.hybrid import HybridParams, choose_settings, fit_kept
from recsys_core.settings import Settings, hybrid_params


def nightly(train: pl.DataFrame, budget: float | None) -> tuple[Hybrid, dict, dict]:
    """choose_settings on train, the kept components and popularity fitted on all of train."""
    kwargs = hybrid_params(Settings())
    params = HybridParams(**kwargs)
    t0 = time.perf_counter()
    chosen, trials = choose_settings(params, train, k=K, threshold=THRESHOLD, budget_seconds=budget)
    t1 = time.perf_counter()
    fitted = fit_kept(params, chosen, train)
    fallback = Popularity(**kwargs["fallback"]["params"]).fit(train)
    t2 = time.perf_counter()
    hybrid = Hybrid.assemble(fitted, fallback, chosen, **kwargs)
    recs = hybrid.recommend_explained(K)
    t3 = time.perf_counter()
    timing = {"choose_s": t1 - t0, "fit_s": t2 - t1, "lists_s": t3 - t2, "trials": trials.height}
    return hybrid, chosen, {**timing, "recs": recs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?")
    parser.add_argument("--synthetic", help="n_users,n_items,n_ratings (seed 1)")
    parser.add_argument("--budget", type=float, default=None)
    args = parser.parse_args(argv)
    print("load before:", os.getloadavg())
    if args.synthetic:
        u, i, r = (int(x) for x in args.synthetic.split(","))
        ratings = generate_ratings(u, i, r, seed=1)
        split = random_split(ratings, 0.2, 42)
        train, test = split.train, split.test
    else:
        with tempfile.TemporaryDirectory(prefix="heldout-") as tmp:
            train_file, test_file = split_lines(args.data, Path(tmp))
            train, test = ingest([train_file]).ratings, ingest([test_file]).ratings
    rows = []
    pop = Popularity().fit(train)
    m = ranking_metrics(pop.recommend(K), test, K, THRESHOLD)
    rows.append({"model": "popularity", "ndcg": m["ndcg"], "precision": m["precision"]})
    _, chosen, out = nightly(train, args.budget)
    m = ranking_metrics(out.pop("recs"), test, K, THRESHOLD)
    rows.append({"model": "hybrid", "ndcg": m["ndcg"], "precision": m["precision"], **out})
    with pl.Config(tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(pl.DataFrame(rows, strict=False))
    print("chosen:", json.dumps(chosen))
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    main()
