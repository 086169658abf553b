"""Fit + top-10-for-every-user time of EASE and IALS, and of ``implicit``'s ALS called directly.

    python -m benchmarks.bench_ease_ials [--ratings 1000000] [--threads 0]

Data: ``generate_ratings(6040, 3706, n, seed=1)`` (ML-1M-sized). ``implicit`` gets the same
graded weights, hyperparameters and threads as :class:`IALS`; its lists come from
``recommend(users, user_items[users], N=10)`` (seen items filtered). Wall seconds, best of
``--repeat`` runs, with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recsys_core.data.synthetic import generate_ratings
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.models.signal import signal_matrix


def best_of(repeat: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    frame = generate_ratings(6040, 3706, args.ratings, seed=1)
    print(f"{frame.height:,} ratings; load before: {os.getloadavg()}")
    ials_params = {"n_threads": args.threads}
    for name, make in (("EASE", lambda: EASE()), ("IALS", lambda: IALS(**ials_params))):
        fit_s, model = best_of(args.repeat, lambda make=make: make().fit(frame))
        top_s, recs = best_of(args.repeat, lambda model=model: model.recommend(10))
        print(f"{name:8s} fit {fit_s:6.2f} s  top-10 all users {top_s:5.2f} s  rows {recs.height}")
        if name == "IALS":
            ours = model
    p = ours.params
    weights = signal_matrix(ours.data.user_items, p.signal, low=p.low_weight)
    users = np.arange(weights.shape[0])

    def direct_fit() -> AlternatingLeastSquares:
        with threadpool_limits(limits=1, user_api="blas"):
            als = AlternatingLeastSquares(
                factors=p.n_factors,
                regularization=p.reg,
                alpha=p.alpha,
                iterations=p.n_epochs,
                random_state=p.random_state,
                num_threads=args.threads,
            )
            als.fit(weights, show_progress=False)
        return als

    fit_s, als = best_of(args.repeat, direct_fit)
    top_s, _ = best_of(args.repeat, lambda: als.recommend(users, weights, N=10))
    print(f"implicit fit {fit_s:6.2f} s  top-10 all users {top_s:5.2f} s  (direct, same threads)")
    same = np.array_equal(als.item_factors, ours.item_factors_)
    print(f"same factors as IALS: {same}; load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
