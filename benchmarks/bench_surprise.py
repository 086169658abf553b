"""Ours against Surprise, in the same run on the same data: item-KNN and biased MF.

Run by hand::

    python -m benchmarks.bench_surprise             # 3 rounds, alternating ours and Surprise's
    python -m benchmarks.bench_surprise --rounds 5 --venv /tmp/surprise-venv

Surprise is not a project dependency: the script makes its own venv (``--venv``, default
``/tmp/surprise-venv``) with ``scikit-surprise==1.1.5`` and ``numpy<2`` if it lacks one.

Cases (each side in its own child process per round, ours and Surprise's alternating so that
both see the same load; a round's ratio compares the two children run back to back):

- ``knn``: item-based ``KNNWithMeans`` (``msd``, ``k=40``, Surprise's defaults otherwise) on
  ML-100k, seeded 80/20 ``random_split(0.2, random_state=42)``: fit, then predict every test
  pair. Timed for Surprise: ``build_full_trainset`` + ``fit`` + ``test``; for ours ``fit`` (its
  id mapping included) + ``predict``.
- ``svd``: biased MF of Surprise's default size (100 factors, 20 epochs) fitted on the
  synthetic 1M set (``generate_ratings(6_040, 3_706, 1_000_000, seed=0)``): Surprise's ``SVD()``
  (SGD) against our ``SVD(n_factors=100, n_epochs=20)`` (its default solver, ALS, and reg 0.12:
  our SGD solver needs numba, which the project does not install). Timed: trainset + fit, fit.

Both children get ``OPENBLAS_NUM_THREADS=1`` (the Makefile's) unless the environment sets it:
at 100 factors our ALS took 110-190 s with OpenBLAS's default 2 threads against ~60 s with 1.
The table prints both times, the ratio (Surprise / ours), RMSE of both on the test pairs (the
``svd`` case: on its training ratings), and the load average before each round.
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

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
CASES = ("knn", "svd")


# -- data (our venv) ----------------------------------------------------------------------------
def write_data(folder: Path) -> None:
    """``knn-train.tsv``, ``knn-test.tsv`` (ML-100k 80/20) and ``svd-train.tsv`` (synthetic 1M):
    ``user item rating`` lines, read the same way by both sides."""
    import polars as pl

    from recsys_core.data.split import random_split
    from recsys_core.data.synthetic import generate_ratings

    frame = pl.read_csv(
        ML100K, separator="\t", has_header=False, new_columns=["user_id", "item_id", "rating", "ts"]
    )
    split = random_split(frame.drop("ts"), 0.2, random_state=42)
    cols = ["user_id", "item_id", "rating"]
    for name, part in (("knn-train", split.train), ("knn-test", split.test)):
        part.select(cols).write_csv(folder / f"{name}.tsv", separator="\t", include_header=False)
    synth = generate_ratings(6_040, 3_706, 1_000_000, seed=0).select(cols)
    synth.write_csv(folder / "svd-train.tsv", separator="\t", include_header=False)


def ours(case: str, folder: Path) -> dict:
    import numpy as np
    import polars as pl

    from recsys_core import SVD, KNNWithMeans

    def read(name: str) -> pl.DataFrame:
        return pl.read_csv(
            folder / f"{name}.tsv",
            separator="\t",
            has_header=False,
            new_columns=["user_id", "item_id", "rating"],
            schema_overrides={"rating": pl.Float64},
        )

    if case == "knn":
        train, test = read("knn-train"), read("knn-test")
        start = time.perf_counter()
        model = KNNWithMeans(k=40, sim_options={"name": "msd", "user_based": False}).fit(train)
        est = model.predict(test)
    else:
        train = test = read("svd-train")
        start = time.perf_counter()
        model = SVD(n_factors=100, n_epochs=20).fit(train)  # our solver (ALS), Surprise's size
    wall = time.perf_counter() - start
    if case == "svd":
        est = model.predict(test)
    actual = test.get_column("rating").to_numpy()
    return {"wall_s": wall, "rmse": float(np.sqrt(np.mean((est - actual) ** 2)))}


# -- Surprise (its venv: only the standard library, numpy and surprise) -------------------------
def theirs(case: str, folder: Path) -> dict:
    import numpy as np
    from surprise import SVD, Dataset, KNNWithMeans, Reader

    reader = Reader(line_format="user item rating", sep="\t", rating_scale=(1, 5))
    if case == "knn":
        data = Dataset.load_from_file(str(folder / "knn-train.tsv"), reader)
        lines = (folder / "knn-test.tsv").read_text().splitlines()
        testset = [(u, i, float(r)) for u, i, r in (line.split("\t") for line in lines)]
        start = time.perf_counter()
        trainset = data.build_full_trainset()
        algo = KNNWithMeans(k=40, sim_options={"name": "msd", "user_based": False}, verbose=False)
        algo.fit(trainset)
        predictions = algo.test(testset)
        wall = time.perf_counter() - start
    else:
        data = Dataset.load_from_file(str(folder / "svd-train.tsv"), reader)
        start = time.perf_counter()
        trainset = data.build_full_trainset()
        algo = SVD(random_state=0).fit(trainset)
        wall = time.perf_counter() - start
        predictions = algo.test(trainset.build_testset())
    err = np.array([p.r_ui - p.est for p in predictions])
    return {"wall_s": wall, "rmse": float(np.sqrt(np.mean(err**2)))}


# -- driver -------------------------------------------------------------------------------------
def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import surprise"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "scikit-surprise==1.1.5", "numpy<2"]
    subprocess.run(pip, check=True)
    return python


def child(python: Path, side: str, case: str, folder: Path) -> dict:
    cmd = [str(python), str(Path(__file__).resolve()), "--child", side, case, str(folder)]
    env = {"OPENBLAS_NUM_THREADS": "1", **os.environ, "PYTHONPATH": str(ROOT)}  # the Makefile's
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} {case} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--venv", default="/tmp/surprise-venv")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        side, case, folder = args.child
        run = ours if side == "ours" else theirs
        print(json.dumps(run(case, Path(folder))))
        return 0
    surprise_python = ensure_venv(Path(args.venv))
    rows = []
    with tempfile.TemporaryDirectory(prefix="recsys-surprise-") as tmp:
        folder = Path(tmp)
        write_data(folder)
        for r in range(args.rounds):
            for case in args.cases.split(","):
                load = loadavg()
                a = child(Path(sys.executable), "ours", case, folder)
                b = child(surprise_python, "theirs", case, folder)
                rows.append((case, r + 1, a, b, load))
                print(f"  {case} round {r + 1}: ours {a['wall_s']:.2f} s, Surprise "
                      f"{b['wall_s']:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
    print(f"cores: {os.cpu_count()}; uptime: {os.popen('uptime').read().strip()}")
    print(f"{'case':5s} {'round':>5s} {'ours_s':>7s} {'surprise_s':>10s} {'ratio':>6s} "
          f"{'rmse_ours':>9s} {'rmse_surp':>9s}  load before")  # fmt: skip
    for case, r, a, b, load in rows:
        ratio = b["wall_s"] / a["wall_s"]
        print(f"{case:5s} {r:5d} {a['wall_s']:7.2f} {b['wall_s']:10.2f} {ratio:6.1f} "
              f"{a['rmse']:9.4f} {b['rmse']:9.4f}  {load}")  # fmt: skip
    for case in args.cases.split(","):
        mine = min(a["wall_s"] for c, _, a, _, _ in rows if c == case)
        best = min(b["wall_s"] for c, _, _, b, _ in rows if c == case)
        worst = min(b["wall_s"] / a["wall_s"] for c, _, a, b, _ in rows if c == case)
        print(f"{case}: fastest ours {mine:.2f} s, Surprise {best:.2f} s, ratio of fastest "
              f"{best / mine:.1f}x, worst round {worst:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
