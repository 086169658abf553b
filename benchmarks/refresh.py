"""Refreshed lists against a full retrain, on the held-out protocol.

    python -m benchmarks.refresh ../shared/data/ml-100k/u.data

Split (as :mod:`benchmarks.heldout`): the file's data rows in file order,
``perm = numpy.random.default_rng(42).permutation(n)``; test = the rows at ``perm[: n // 5]``,
train = the rest. Within the train part, each user's newest ``ceil(n_u / 10)`` ratings by
timestamp (ties: the later line) arrive "during the day"; the other ~90% are the night's.

Three data roots, each run with ``python -m pipeline`` and the default settings:

- ``stale``: a night on the 90% (what is live before the refresh);
- ``refreshed``: that night, then the 10% as a new raw file and ``python -m pipeline refresh``;
- ``full``: a night on the whole train part (what the next night would publish).

With ``--scale synth-1m`` (or ``synth-25m``, settings from ``--config``) instead: a night on
that synthetic set (the gate's popularity lift off: its tastes are random), then a new file
with 5 new ratings for each of ``--users`` existing users and 20 for each of 20 new users, and
one refresh: its wall time, its run time and the night's.

Printed: NDCG@10 and P@10 on the test part (relevant = rating >= 4, users with a relevant test
item), the refreshed NDCG as a share of the full retrain's, overlap@10 between the refreshed and
the full lists (mean over users of |A & B| / 10), the users refreshed, and the times: each
command's wall time (with Python's start-up) and the run's own, start to end, from the
instance that ran it.
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

import dagster as dg
import numpy as np
import polars as pl
import yaml

from benchmarks.datasets import SEED, SYNTHETIC, load
from benchmarks.heldout import THRESHOLD, K, split_lines
from recsys_core.data.validate import ingest
from recsys_core.evaluation.metrics import ranking_metrics

ROOT = Path(__file__).resolve().parents[1]


def day_split(train_file: Path, out: Path) -> tuple[Path, Path]:
    """``out/night/<name>`` and ``out/day/<name>``: each user's newest ceil(10%) train lines
    by timestamp go to the day file (the lines as they are)."""
    lines = [line for line in train_file.read_bytes().splitlines(keepends=True) if line.strip()]
    frame = ingest([train_file]).ratings  # one row per line (ML-100k has no duplicate pairs)
    if frame.height != len(lines):
        raise SystemExit(f"{train_file}: {len(lines)} lines but {frame.height} ratings")
    order = frame.with_row_index("line").sort(["user_id", "timestamp", "line"])
    ranked = order.with_columns(
        pl.col("line").cum_count().over("user_id").alias("nth"),
        pl.len().over("user_id").alias("n"),
    )
    day = set(ranked.filter(pl.col("nth") > pl.col("n") - (pl.col("n") + 9) // 10)["line"])
    paths = []
    for part, keep in (("night", lambda i: i not in day), ("day", lambda i: i in day)):
        target = out / part / train_file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(line for i, line in enumerate(lines) if keep(i)))
        paths.append(target)
    return paths[0], paths[1]


def pipeline(root: Path, home: Path, command: str) -> float:
    """``python -m pipeline <command>`` on ``root``; its wall time."""
    env = {**os.environ, "RECSYS_DATA_DIR": str(root), "DAGSTER_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", command], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def night(work: Path, name: str, files: list[Path]) -> tuple[Path, Path, float]:
    """A fresh data root holding ``files`` in ``raw/`` after one night: (root, home, wall)."""
    root, home = work / name / "root", work / name / "home"
    (root / "raw").mkdir(parents=True)
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for path in files:
        (root / "raw" / path.name).write_bytes(path.read_bytes())
    return root, home, pipeline(root, home, "run")


def run_seconds(home: Path, run_id: str) -> float:
    """A run's duration, start to end, from the instance that recorded it."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        stats = instance.get_run_stats(run_id)
    return stats.end_time - stats.start_time


def live(root: Path) -> tuple[pl.DataFrame, dict]:
    published = root / "published"
    record = json.loads((published / "run.json").read_text())
    return pl.read_parquet(published / "recommendations.parquet"), record


def overlap(a: pl.DataFrame, b: pl.DataFrame, k: int = K) -> float:
    """Mean over the users of ``a`` of |top-k of a & top-k of b| / k."""
    top = [t.filter(pl.col("rank") <= k).select("user_id", "item_id") for t in (a, b)]
    shared = top[0].join(top[1], on=["user_id", "item_id"]).group_by("user_id").len()
    users = top[0].select("user_id").unique()
    joined = users.join(shared, on="user_id", how="left").fill_null(0)
    return float(joined["len"].mean()) / k


def scale(size: str, users: int, config: Path | None) -> None:
    """A night on a synthetic set, then a refresh of ``users`` existing and 20 new users."""
    ratings = load(size)
    rng = np.random.default_rng(SEED)
    n_items = int(ratings["item_id"].max())
    chosen = rng.choice(ratings["user_id"].unique().to_numpy(), users, replace=False)
    new_ids = int(ratings["user_id"].max()) + 1 + np.arange(20)
    who = np.concatenate([np.repeat(chosen, 5), np.repeat(new_ids, 20)])
    day = pl.DataFrame({"user_id": who, "item_id": rng.integers(1, n_items + 1, len(who)),
                        "rating": rng.integers(1, 6, len(who)).astype(float),
                        "timestamp": int(ratings["timestamp"].max()) + 1})  # fmt: skip
    day = day.unique(["user_id", "item_id"], keep="first", maintain_order=True)
    with tempfile.TemporaryDirectory(prefix="refresh-scale-") as tmp:
        work = Path(tmp)
        (work / "files").mkdir()
        ratings.write_parquet(work / "files" / "night.parquet")
        settings = yaml.safe_load(config.read_text()) if config is not None else {}
        settings.setdefault("publish", {})["min_lift"] = 0.0  # random tastes: no lift to gate
        (work / "recsys.yaml").write_text(yaml.safe_dump(settings))
        os.environ["RECSYS_CONFIG"] = str(work / "recsys.yaml")
        root, home, night_s = night(work, size, [work / "files" / "night.parquet"])
        _, night_record = live(root)
        day.write_parquet(root / "raw" / "day.parquet")
        refresh_s = pipeline(root, home, "refresh")
        _, record = live(root)
        runs = [run_seconds(home, r["run_id"]) for r in (night_record, record)]
    done = record["refresh"]
    print(f"{size}: {ratings.height:,} ratings; night: command {night_s:.1f} s, run "
          f"{runs[0]:.1f} s; refresh of {done['users_refreshed']:,} users ({done['new_users']} "
          f"new, {day.height:,} ratings): command {refresh_s:.1f} s, run {runs[1]:.1f} s "
          f"(fold-in and staged table {record['seconds']:.1f} s)")  # fmt: skip
    print("load:", np.round(os.getloadavg(), 1).tolist())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", help="a ratings file ingest reads")
    parser.add_argument("--scale", choices=sorted(SYNTHETIC), help="a synthetic set instead")
    parser.add_argument("--users", type=int, default=300, help="existing users to refresh")
    parser.add_argument("--config", type=Path, help="a settings file for --scale runs")
    args = parser.parse_args(argv)
    if args.scale:
        scale(args.scale, args.users, args.config)
        return
    if args.data is None:
        parser.error("give a ratings file, or --scale")
    with tempfile.TemporaryDirectory(prefix="refresh-bench-") as tmp:
        work = Path(tmp)
        train_file, test_file = split_lines(args.data, work / "split")
        night_file, day_file = day_split(train_file, work / "split")
        test = ingest([test_file]).ratings
        day_rows = ingest([day_file]).ratings.height
        print(f"train {ingest([train_file]).ratings.height:,} rows ({day_rows:,} during the day),"
              f" test {test.height:,}")  # fmt: skip
        root, home, night_s = night(work, "refreshed", [night_file])
        stale, stale_record = live(root)
        (root / "raw" / f"day-{day_file.name}").write_bytes(day_file.read_bytes())
        refresh_s = pipeline(root, home, "refresh")
        refreshed, record = live(root)
        full_root, full_home, full_s = night(work, "full", [train_file])
        full, full_record = live(full_root)
        runs = [run_seconds(h, r["run_id"]) for h, r in
                ((home, stale_record), (home, record), (full_home, full_record))]  # fmt: skip
    scores = {
        name: ranking_metrics(lists, test, K, THRESHOLD)
        for name, lists in (("stale", stale), ("refreshed", refreshed), ("full", full))
    }
    rows = [
        ("stale (night on 90%)", scores["stale"], f"{night_s:.1f}", runs[0]),
        ("refreshed (+10% folded in)", scores["refreshed"], f"{refresh_s:.1f}", runs[1]),
        ("full retrain (night on 100%)", scores["full"], f"{full_s:.1f}", runs[2]),
    ]
    table = pl.DataFrame(
        {
            "lists": [r[0] for r in rows],
            f"NDCG@{K}": [round(r[1]["ndcg"], 4) for r in rows],
            f"P@{K}": [round(r[1]["precision"], 4) for r in rows],
            "command wall s": [r[2] for r in rows],
            "run s": [round(r[3], 1) for r in rows],
        }
    )
    with pl.Config(tbl_rows=-1, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(table)
    share = scores["refreshed"]["ndcg"] / scores["full"]["ndcg"]
    print(f"refreshed / full NDCG@{K}: {share:.3f} (target >= 0.95)")
    print(f"overlap@{K} refreshed vs full: {overlap(refreshed, full):.3f}; "
          f"stale vs full: {overlap(stale, full):.3f}")  # fmt: skip
    users, ratio = record["refresh"]["users_refreshed"], runs[1] / runs[0]
    print(f"users refreshed: {users:,} of {refreshed['user_id'].n_unique():,}; "
          f"refresh / night run time: {ratio:.3f}")  # fmt: skip
    print("load:", np.round(os.getloadavg(), 1).tolist())


if __name__ == "__main__":
    main()
