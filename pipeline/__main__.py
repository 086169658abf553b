"""Command line: ``python -m pipeline run`` materializes the whole graph once (what ``make run``
does) and prints where the outputs are and the headline metrics."""

import argparse
import fcntl
import os
import sys

import dagster as dg
import polars as pl

from pipeline.definitions import defs
from pipeline.resources import DataRoot

HEADLINE = ("rmse", "precision", "ndcg", "coverage")


def run() -> int:
    """Run the nightly job in-process against the project's Dagster instance."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    root = DataRoot()
    with open(root.path(".run.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another run is writing to {root.base}: not starting", file=sys.stderr)
            return 3
        job = defs.resolve_job_def("nightly")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    if not result.success:
        print(
            f"run {result.run_id} FAILED; the published table was left as it was", file=sys.stderr
        )
        return 1
    print(f"\nrun {result.run_id} succeeded; outputs under {root.base}:")
    for part in ("recommendations.parquet", "metrics.parquet"):
        print(f"  published/{part}")
    print("  warehouse/ratings.parquet, warehouse/quarantine.parquet, models/*.npz\n")
    metrics = pl.read_parquet(root.published("metrics.parquet"))
    table = (
        metrics.filter(pl.col("metric").is_in(HEADLINE))
        .pivot(on="metric", index="model", values="value")
        .select("model", *[m for m in HEADLINE if m in metrics["metric"].unique().to_list()])
    )
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="materialize the whole asset graph once")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
