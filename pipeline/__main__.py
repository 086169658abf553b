"""Command line.

``python -m pipeline run`` materializes the whole graph once (what ``make run`` does) and prints
where the outputs are and the headline metrics; ``python -m pipeline rollback [RUN_ID]`` makes an
earlier published run live again (without RUN_ID: lists the published runs).
"""

import argparse
import fcntl
import os
import sys

import dagster as dg
import polars as pl

from pipeline.config import LOAD_TIME
from pipeline.definitions import defs, nightly
from pipeline.resources import DataRoot
from recsys_core.publish import history
from recsys_core.report.html import table_at_k


def _execute(instance: dg.DagsterInstance | None):
    """The nightly job with the configured executor: in this process, or (multiprocess, k8s)
    through a reconstructable job, which needs a persistent instance (DAGSTER_HOME)."""
    if LOAD_TIME.execution.executor == "in_process":
        job = defs.resolve_job_def("nightly")
        return job.execute_in_process(instance=instance, raise_on_error=False)
    if instance is None:
        raise SystemExit(
            f"execution.executor {LOAD_TIME.execution.executor!r} needs DAGSTER_HOME set to a "
            "folder (step processes share the run's storage); `make run` sets it"
        )
    return dg.execute_job(dg.reconstructable(nightly), instance=instance, raise_on_error=False)


def run() -> int:
    """Run the nightly job once (with the configured executor) against the project's instance."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    root = DataRoot()
    with open(root.path(".run.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another run is writing to {root.base}: not starting", file=sys.stderr)
            return 3
        result = _execute(instance)
    if not result.success:
        print(
            f"run {result.run_id} FAILED; the published table was left as it was", file=sys.stderr
        )
        return 1
    print(f"\nrun {result.run_id} succeeded; outputs under {root.base}:")
    for part in ("recommendations.parquet", "metrics.parquet"):
        print(f"  published/{part}")
    print("  warehouse/ratings.parquet, warehouse/quarantine.parquet, models/*.npz")
    metrics = pl.read_parquet(root.published("metrics.parquet"))
    table = table_at_k(metrics, 10).select(
        "model", *[c for c in ("ndcg", "precision", "recall", "rmse", "coverage")]
    )
    print("  published/report.html\n\nheadline metrics on the test split (k=10):")
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=20):
        print(table)
    return 0


def rollback(run_id: str | None) -> int:
    """Make an earlier published run live again (or list the published runs)."""
    published = DataRoot().published()
    if run_id is None:
        live = history.current_run(published)
        for known in history.runs(published):
            print(f"{known}{'  (live)' if known == live else ''}")
        return 0
    history.make_live(published, run_id)
    print(f"run {run_id} is live again: {published / 'recommendations.parquet'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="materialize the whole asset graph once")
    back = sub.add_parser("rollback", help="make an earlier published run live (no RUN_ID: list)")
    back.add_argument("run_id", nargs="?", help="a run id from published/history/")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    return rollback(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
