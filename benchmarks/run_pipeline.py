"""End-to-end nightly benchmark: wall time and peak memory per asset, and the total.

Run by hand::

    python -m benchmarks.run_pipeline                      # ML-100k and the ML-1M-sized set
    python -m benchmarks.run_pipeline --sizes synth-25m    # the 25M-rating set

Each size gets a fresh data root with its ratings in ``raw/`` (ML-100k from ../shared; the
synthetic sets generated with a fixed seed and written as Parquet), then the whole nightly job
(ingest -> split -> models -> evaluation -> gated publish -> report) runs in a child process per
size, with the executor the settings name. A sampler thread records the resident
memory of the run's process tree (step processes included) every 200 ms; each step's peak is the
highest sample between its start and end events (overlapping steps share samples).
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


def child(size: str, root: Path) -> dict:
    """Run the nightly job once on ``root`` and time every step (runs in the child process)."""
    import dagster as dg

    from pipeline.__main__ import _execute

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.time(), rss_mib()))
            time.sleep(0.2)

    n = prepare(size, root)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.time()
    with dg.instance_for_test() as instance:
        result = _execute(instance)  # the configured executor, as `python -m pipeline run`
        records = instance.all_logs(result.run_id)
    total = time.time() - start
    stop.set()
    thread.join()
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
    rows = []
    for step, t in sorted(steps.items(), key=lambda kv: kv[1].get("start", 0)):
        if "start" not in t or "end" not in t:
            continue
        inside = [m for ts, m in samples if t["start"] <= ts <= t["end"]] or [float("nan")]
        rows.append((step, t["end"] - t["start"], max(inside), t.get("ok", False)))
    peak = max(m for _, m in samples) if samples else float("nan")
    return {"size": size, "ratings": n, "ok": result.success, "total": total, "peak": peak,
            "steps": rows}  # fmt: skip


def table(report: dict) -> str:
    lines = [f"\n{report['size']}: {report['ratings']:,} ratings, run "
             f"{'succeeded' if report['ok'] else 'FAILED'}",
             f"{'step':42s} {'wall_s':>8s} {'peak_mib':>9s}"]  # fmt: skip
    for step, wall, peak, ok in report["steps"]:
        shown = f"{peak:9.0f}" if peak == peak else f"{'-':>9s}"  # NaN: shorter than a sample
        lines.append(f"{step:42s} {wall:8.2f} {shown}{'' if ok else '  FAILED'}")
    lines.append(f"{'TOTAL (whole run)':42s} {report['total']:8.2f} {report['peak']:9.0f}")
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


def run_child(size: str, tmp: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run one size in a child process, echoing its step start/end lines as they happen (a long
    run shows where it is); returns (exit code, stdout, the last lines of stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run_pipeline", "--child", size, tmp],
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
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    reports = []
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"recsys-bench-{size}-") as tmp:
            env = {**os.environ, "RECSYS_DATA_DIR": tmp, "OPENBLAS_NUM_THREADS": "1"}
            env.pop("DAGSTER_HOME", None)
            config = config_for(args.config, size)
            if config:
                env["RECSYS_CONFIG"] = str(Path(config).resolve())
            code, stdout, tail = run_child(size, tmp, env)
            if code != 0:
                print(f"{size}: child failed\n{tail}")
                continue
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
            print(table(reports[-1]), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(reports, indent=1))
    earlier = json.loads(Path(args.against).read_text()) if args.against else []
    by = {r["size"]: r for r in [*earlier, *reports]}
    if "synth-1m" in by and "synth-25m" in by:
        print(growth(by["synth-1m"], by["synth-25m"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
