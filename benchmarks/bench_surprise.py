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
- ``svd``: biased MF of Surprise's default size (100 factors, 20 epochs, ``lr_all=0.005``,
  ``reg_all=0.02``) fitted on the synthetic 1M set (``generate_ratings(6_040, 3_706, 1_000_000,
  seed=0)``): Surprise's ``SVD()`` against our ``SVD(solver="sgd", ...)`` with the same values,
  the same algorithm (our SGD runs compiled by numba in float32). Timed: trainset + fit, fit.
  Library imports are outside the timing on both sides, numba's too (0.16-0.20 s of CPU; the
  fit imports it lazily); numba's start-up on the first compiled call (its typing and lowering
  registries, 0.13-0.17 s) is inside. The compiled kernel is cached on disk (``cache=True``):
  the ``jit`` column says whether a round found the cache (``cached``) or compiled
  (``compiled``, ~1 s more: the first round after a change of
  ``recsys_core/models/mf/sgd_kernel.py``).

Both children get ``OPENBLAS_NUM_THREADS=1`` (the Makefile's) unless the environment sets it,
and inherit ``PYTHONPATH`` after the project root. The table prints each side's wall time and
CPU time (user + system, of the timed part), the ratios (Surprise / ours), RMSE of both on the
test pairs (the ``svd`` case: on its training ratings) and the load average before each round.
On a busy machine the CPU ratio is the steadier one; the acceptance is on the wall ratio.

Last runs (docs/benchmarks.md, "Against Surprise"; load 3.5-7.7 on the 2 cores): item-KNN
6.0-11.3x faster than Surprise 1.1.5 per round (CPU 6.3-10.1x), biased MF 4.4-7.8x with the
kernel cached (CPU 6.3-7.6x) and 3.2x in the round that compiles it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
CASES = ("knn", "svd")
SVD_SIZE = {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02}
"""Surprise's ``SVD()`` defaults, given to both sides."""
JIT_CACHE = ROOT / "recsys_core" / "models" / "mf" / "__pycache__"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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

    out = {}
    if case == "knn":
        train, test = read("knn-train"), read("knn-test")
        cpu, start = cpu_s(), time.perf_counter()
        model = KNNWithMeans(k=40, sim_options={"name": "msd", "user_based": False}).fit(train)
        est = model.predict(test)
    else:
        import numba  # noqa: F401  # a library import, outside the timing as Surprise's is

        train = test = read("svd-train")
        out["jit"] = "cached" if any(JIT_CACHE.glob("sgd_kernel.epochs-*.nbi")) else "compiled"
        cpu, start = cpu_s(), time.perf_counter()
        model = SVD(solver="sgd", random_state=0, **SVD_SIZE).fit(train)
    out |= {"wall_s": time.perf_counter() - start, "cpu_s": cpu_s() - cpu}
    if case == "svd":
        est = model.predict(test)
    actual = test.get_column("rating").to_numpy()
    return out | {"rmse": float(np.sqrt(np.mean((est - actual) ** 2)))}


# -- Surprise (its venv: only the standard library, numpy and surprise) -------------------------
def theirs(case: str, folder: Path) -> dict:
    import numpy as np
    from surprise import SVD, Dataset, KNNWithMeans, Reader

    reader = Reader(line_format="user item rating", sep="\t", rating_scale=(1, 5))
    if case == "knn":
        data = Dataset.load_from_file(str(folder / "knn-train.tsv"), reader)
        lines = (folder / "knn-test.tsv").read_text().splitlines()
        testset = [(u, i, float(r)) for u, i, r in (line.split("\t") for line in lines)]
        cpu, start = cpu_s(), time.perf_counter()
        trainset = data.build_full_trainset()
        algo = KNNWithMeans(k=40, sim_options={"name": "msd", "user_based": False}, verbose=False)
        algo.fit(trainset)
        predictions = algo.test(testset)
        wall, used = time.perf_counter() - start, cpu_s() - cpu
    else:
        data = Dataset.load_from_file(str(folder / "svd-train.tsv"), reader)
        cpu, start = cpu_s(), time.perf_counter()
        trainset = data.build_full_trainset()
        algo = SVD(random_state=0, **SVD_SIZE).fit(trainset)  # its defaults, spelled out
        wall, used = time.perf_counter() - start, cpu_s() - cpu
        predictions = algo.test(trainset.build_testset())
    err = np.array([p.r_ui - p.est for p in predictions])
    return {"wall_s": wall, "cpu_s": used, "rmse": float(np.sqrt(np.mean(err**2)))}


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
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {"OPENBLAS_NUM_THREADS": "1", **os.environ, "PYTHONPATH": path}  # the Makefile's
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
    print(f"{'case':5s} {'round':>5s} {'ours_s':>7s} {'surp_s':>7s} {'ratio':>6s} "
          f"{'ours_cpu':>8s} {'surp_cpu':>8s} {'ratio':>6s} {'rmse_ours':>9s} {'rmse_surp':>9s} "
          f"{'jit':8s} load before")  # fmt: skip
    for case, r, a, b, load in rows:
        print(f"{case:5s} {r:5d} {a['wall_s']:7.2f} {b['wall_s']:7.2f} "
              f"{b['wall_s'] / a['wall_s']:6.1f} {a['cpu_s']:8.2f} {b['cpu_s']:8.2f} "
              f"{b['cpu_s'] / a['cpu_s']:6.1f} {a['rmse']:9.4f} {b['rmse']:9.4f} "
              f"{a.get('jit', '-'):8s} {load}")  # fmt: skip
    for case in args.cases.split(","):
        mine = min(a["wall_s"] for c, _, a, _, _ in rows if c == case)
        best = min(b["wall_s"] for c, _, _, b, _ in rows if c == case)
        ratios = [b["wall_s"] / a["wall_s"] for c, _, a, b, _ in rows if c == case]
        cpu = [b["cpu_s"] / a["cpu_s"] for c, _, a, b, _ in rows if c == case]
        print(f"{case}: fastest ours {mine:.2f} s, Surprise {best:.2f} s, ratio of fastest "
              f"{best / mine:.1f}x; per round: median {statistics.median(ratios):.1f}x, worst "
              f"{min(ratios):.1f}x (CPU: median {statistics.median(cpu):.1f}x, worst "
              f"{min(cpu):.1f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
