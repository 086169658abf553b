"""End-to-end nightly benchmark: wall time and peak memory per step, and the total, beside
``implicit``'s ALS on the same ratings.

Run by hand::

    python -m benchmarks.run_pipeline                      # ML-100k and the ML-1M-sized set
    python -m benchmarks.run_pipeline --sizes synth-25m    # the 25M-rating set
    python -m benchmarks.run_pipeline --threads 2          # BLAS/OpenMP threads for both sides

Each size gets a fresh data root whose ``raw/`` the benchmark fills itself (ML-100k from
../shared; the synthetic sets generated with a fixed seed and written as Parquet: a normal run
invents no data), and a fresh ``DAGSTER_HOME``. A child process per size runs the nightly job as
the operator does, ``python -m pipeline run`` (its configured executor), then ``implicit``'s
``AlternatingLeastSquares`` (its defaults: 100 factors, 15 iterations) fit on the same validated
ratings (rating as confidence) and a top-10 for every user, seen items filtered (``--code DIR``
runs the night from another folder's ``pipeline/`` and ``recsys_core/``). Both run with
the same thread settings (``--threads``: ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
implicit's ``num_threads``; default 1, as the Makefile). A sampler thread in the child records
the resident memory of its process tree every 200 ms; a step's peak is the highest sample
between its start and end events (overlapping steps share samples). Step names are read from
the run's events, so renamed assets need no change here.

A project file (``recsys.yaml``) can be given with ``--config``, for every size (``--config
big.yaml``) or per size (``--config synth-25m=benchmarks/25m.yaml``); ``--save`` and
``--against`` compare sizes measured in separate invocations. The whole comparison::

    python -m benchmarks.run_pipeline --sizes ml-100k,synth-1m,synth-25m \\
        --config synth-25m=benchmarks/25m.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.datasets import ML100K, SYNTHETIC

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"ml-100k": None, **SYNTHETIC}


def rss_mib() -> float:
    """Resident memory of this process and all its descendants (the multiprocess executor's
    step processes included), in MiB."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        pid = int(stat.parent.name)
        parent[pid], rss[pid] = int(fields[1]), int(fields[21])  # ppid, rss in pages
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, ppid in parent.items() if ppid == pid and child not in tree]
    return sum(rss.get(pid, 0) for pid in tree) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepare(size: str, root: Path) -> int:
    """Write the size's ratings into ``root/raw``; returns the number of ratings."""
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    if SIZES[size] is None:
        (raw / "u.data").write_bytes(ML100K.read_bytes())
        return 100_000
    from recsys_core.data.synthetic import generate_ratings

    users, items, n = SIZES[size]
    frame = generate_ratings(users, items, n, seed=1, n_new_users=20, n_new_items=20)
    frame.write_parquet(raw / "ratings.parquet")
    return frame.height


class Sampler:
    """Resident memory of this process tree every 200 ms, in a thread, as (time, MiB)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.time(), rss_mib()))
            time.sleep(0.2)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float:
        inside = [m for ts, m in self.samples if start <= ts <= end]
        return max(inside) if inside else float("nan")


def step_times(home: Path) -> tuple[bool, list[tuple[str, float, float]]]:
    """The last run's success and ``(step, start, end)`` per step, from its events."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return False, []
        run = runs[0]
        records = instance.all_logs(run.run_id)
        ok = run.status == dg.DagsterRunStatus.SUCCESS
    steps: dict[str, dict[str, float]] = {}
    for rec in records:
        ev = rec.dagster_event
        if ev is None or ev.step_key is None:
            continue
        entry = steps.setdefault(ev.step_key, {})
        if ev.event_type_value == "STEP_START":
            entry["start"] = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            entry["end"] = rec.timestamp
            entry["ok"] = ev.event_type_value == "STEP_SUCCESS"
    timed = [(k, t["start"], t["end"], t.get("ok", False)) for k, t in steps.items()
             if "start" in t and "end" in t]  # fmt: skip
    return ok, sorted(timed, key=lambda row: row[1])


def child(size: str, root: Path, threads: int) -> dict:
    """Run the nightly job once on ``root`` (``raw/`` filled by the parent, so this process
    tree's memory is the night's own), then implicit on the same ratings."""
    n = int((root / "ratings.count").read_text())
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RECSYS_DATA_DIR": str(root)}
    code = Path(os.environ.get("RECSYS_BENCH_CODE") or ROOT)
    sampler = Sampler()
    sampler.thread.start()
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "pipeline", "run"], cwd=code,
                          env={**env, "PYTHONPATH": str(code)}, stdout=sys.stderr,
                          check=False)  # fmt: skip
    total = time.time() - start
    ok, steps = step_times(home)
    rows = [(step, end - begin, sampler.peak(begin, end), good)
            for step, begin, end, good in steps]  # fmt: skip
    peak = sampler.peak(start, start + total)
    begin = time.time()
    alt = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_pipeline", "--implicit", str(root / "raw"),
         str(threads)], cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    implicit = json.loads(alt.stdout.strip().splitlines()[-1])
    implicit["peak"] = sampler.peak(begin, time.time())
    sampler.stop.set()
    sampler.thread.join()
    return {"size": size, "ratings": n, "ok": ok and done.returncode == 0, "total": total,
            "peak": peak, "steps": rows, "implicit": implicit, "threads": threads,
            "load": os.getloadavg()}  # fmt: skip


def run_implicit(raw: Path, threads: int) -> dict:
    """implicit's ALS (defaults) fit + top-10 of every user on the validated ratings of ``raw``."""
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    from recsys_core.data.readers import raw_files
    from recsys_core.data.validate import ingest

    begin = time.perf_counter()
    ratings = ingest(raw_files(raw)).ratings
    users, u = np.unique(ratings.get_column("user_id").to_numpy(), return_inverse=True)
    items, i = np.unique(ratings.get_column("item_id").to_numpy(), return_inverse=True)
    values = ratings.get_column("rating").to_numpy().astype(np.float32)
    user_items = sp.csr_matrix((values, (u, i)), shape=(len(users), len(items)))
    prep = time.perf_counter() - begin
    model = AlternatingLeastSquares(num_threads=threads, random_state=0)
    begin = time.perf_counter()
    model.fit(user_items, show_progress=False)
    fit = time.perf_counter() - begin
    begin = time.perf_counter()
    for lo in range(0, len(users), 4096):
        block = np.arange(lo, min(lo + 4096, len(users)))
        model.recommend(block, user_items[block], N=10, filter_already_liked_items=True)
    top10 = time.perf_counter() - begin
    return {"prep": prep, "fit": fit, "top10": top10}


def table(report: dict) -> str:
    lines = [f"\n{report['size']}: {report['ratings']:,} ratings, run "
             f"{'succeeded' if report['ok'] else 'FAILED'}",
             f"{'step':42s} {'wall_s':>8s} {'peak_mib':>9s}"]  # fmt: skip
    for step, wall, peak, ok in report["steps"]:
        shown = f"{peak:9.0f}" if peak == peak else f"{'-':>9s}"  # NaN: shorter than a sample
        lines.append(f"{step:42s} {wall:8.2f} {shown}{'' if ok else '  FAILED'}")
    lines.append(f"{'TOTAL (whole run)':42s} {report['total']:8.2f} {report['peak']:9.0f}")
    alt = report.get("implicit")
    if alt:
        wall = alt["fit"] + alt["top10"]
        lines.append(f"{'implicit ALS fit + top-10 (all users)':42s} {wall:8.2f} "
                     f"{alt['peak']:9.0f}   fit {alt['fit']:.2f} + top-10 {alt['top10']:.2f}; "
                     f"reading the ratings {alt['prep']:.2f}")  # fmt: skip
        lines.append(f"nightly / implicit: {report['total'] / wall:.1f}x the wall time, "
                     f"{report['peak'] / alt['peak']:.1f}x the peak memory "
                     f"(threads {report['threads']}; load at the end "
                     f"{' '.join(f'{x:.2f}' for x in report['load'])})")  # fmt: skip
    return "\n".join(lines)


def config_for(option: str | None, size: str) -> str | None:
    """The project file ``--config`` names for ``size`` (None: the defaults)."""
    if not option:
        return None
    if "=" not in option:
        return option
    pairs = dict(part.split("=", 1) for part in option.split(","))
    return pairs.get(size)


STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")


def run_child(size: str, tmp: str, env: dict[str, str], threads: int) -> tuple[int, str, str]:
    """Run one size in a child process, echoing its step start/end lines as they happen (a long
    run shows where it is); returns (exit code, stdout, the last lines of stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run_pipeline", "--child", size, tmp, str(threads)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    tail: list[str] = []
    started = time.time()
    assert proc.stderr is not None and proc.stdout is not None
    for line in proc.stderr:
        tail = [*tail[-40:], line]
        event = next((e for e in STEP_EVENTS if f" - {e} - " in line), None)
        if event:
            parts = line.split(" - ")
            step = parts[parts.index(event) - 1] if event in parts else line.strip()
            print(f"  [{size} +{time.time() - started:7.1f}s] {event:12s} {step}", flush=True)
    stdout = proc.stdout.read()
    return proc.wait(), stdout, "".join(tail)


def growth(small: dict, big: dict) -> str:
    """How wall time grows from ``small`` to ``big``: per step and in all, as a factor and
    per rating (1.0 = linear in the number of ratings)."""
    ratio = big["ratings"] / small["ratings"]
    lines = [f"\ngrowth {small['size']} -> {big['size']} (ratings x{ratio:.1f}); "
             f"per rating: the factor / {ratio:.1f} (1.0 = linear)",
             f"{'step':42s} {'factor':>8s} {'per rating':>10s}"]  # fmt: skip
    big_wall = {step: wall for step, wall, _, _ in big["steps"]}
    for step, wall, _, _ in small["steps"]:
        if step in big_wall:
            factor = big_wall[step] / max(wall, 1e-3)
            lines.append(f"{step:42s} {factor:8.1f} {factor / ratio:10.2f}")
    factor = big["total"] / small["total"]
    lines.append(f"{'TOTAL (whole run)':42s} {factor:8.1f} {factor / ratio:10.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="ml-100k,synth-1m")
    parser.add_argument("--config", help="recsys.yaml for every size, or SIZE=FILE[,SIZE=FILE]")
    parser.add_argument("--save", help="write this invocation's reports to this JSON file")
    parser.add_argument("--against", help="earlier reports (--save) to compare growth with")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads, both sides")
    parser.add_argument("--code", help="folder with pipeline/ and recsys_core/ to run the night "
                        "from (default: this checkout)")  # fmt: skip
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--implicit", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), int(args.child[2]))))
        return 0
    if args.implicit:
        print(json.dumps(run_implicit(Path(args.implicit[0]), int(args.implicit[1]))))
        return 0
    reports = []
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"recsys-bench-{size}-") as tmp:
            threads = str(args.threads)
            env = {**os.environ, "RECSYS_DATA_DIR": tmp, "OPENBLAS_NUM_THREADS": threads,
                   "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}  # fmt: skip
            env.pop("DAGSTER_HOME", None)
            if args.code:
                env["RECSYS_BENCH_CODE"] = str(Path(args.code).resolve())
            config = config_for(args.config, size)
            if config:
                env["RECSYS_CONFIG"] = str(Path(config).resolve())
            (Path(tmp) / "ratings.count").write_text(str(prepare(size, Path(tmp))))
            code, stdout, tail = run_child(size, tmp, env, args.threads)
            if code != 0:
                print(f"{size}: child failed\n{tail}")
                continue
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
            print(table(reports[-1]), flush=True)
            if not reports[-1]["ok"]:
                print(f"the nightly run failed; the end of its log:\n{tail}")
    if args.save:
        Path(args.save).write_text(json.dumps(reports, indent=1))
    earlier = json.loads(Path(args.against).read_text()) if args.against else []
    by = {r["size"]: r for r in [*earlier, *reports]}
    if "synth-1m" in by and "synth-25m" in by:
        print(growth(by["synth-1m"], by["synth-25m"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
