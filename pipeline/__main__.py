"""Command line.

``python -m pipeline run [--demo]`` materializes the whole graph once (``make run`` adds
``--demo``: on a new data root with an empty ``raw/`` it writes the built-in demo ratings there
first); ``python -m pipeline config [FILE]`` validates a settings file and prints the effective
settings; ``python -m pipeline rollback [RUN_ID]`` makes an earlier published run live again
(without RUN_ID: lists the published runs).
"""

import argparse
import fcntl
import os
import sys

import dagster as dg
import polars as pl
import yaml

from pipeline.definitions import defs, nightly
from pipeline.publishing import Published
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME, load_settings
from recsys_core.data.readers import raw_files
from recsys_core.data.synthetic import demo_ratings
from recsys_core.errors import ConfigError
from recsys_core.publish import history
from recsys_core.publish.files import write_csv_atomic
from recsys_core.report.html import table_at_k

DEMO_FILE = "demo_ratings.csv"


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


def write_demo(root: DataRoot) -> str:
    """Write the demo ratings into an empty ``raw/`` of a new data root; say what was done."""
    raw = root.local("raw", "x").parent
    if raw_files(raw):
        return f"--demo: {raw} already holds rating files; running on them"
    used = [p for p in ("warehouse", "published") if (raw.parent / p).exists()]
    if used:
        raise SystemExit(
            f"--demo refused: {raw} is empty but {root.uri} already holds {' and '.join(used)}; "
            "demo data would replace a real table. Put the rating files back in raw/."
        )
    frame = demo_ratings().rename({"user_id": "userId", "item_id": "itemId"})
    write_csv_atomic(frame, raw / DEMO_FILE)
    return f"--demo: wrote {frame.height} demo ratings to {raw / DEMO_FILE}"


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The failing step (or check) and its reason, from a failed run's events."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            message = (error.message if error else "failed").strip().splitlines()[-1]
            return f"step {event.step_key}: {message}"
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    if failed:
        names = ", ".join(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed)
        return f"blocking check failed: {names}"
    return "see the run's events"


def run(demo: bool = False) -> int:
    """Run the nightly job once (with the configured executor) against the project's instance."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    root = DataRoot()
    if demo:
        print(write_demo(root))
    with open(root.local(".run.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another run is writing to {root.uri}: not starting", file=sys.stderr)
            return 3
        result = _execute(instance)
    live = Published(root).current_run()
    if not result.success:
        if not live:
            state = "nothing was ever published"
        else:
            state = "its lists are live" if live == result.run_id else f"run {live} stays live"
        print(f"run {result.run_id} FAILED ({state}): {failure_reason(result)}", file=sys.stderr)
        return 1
    print(f"\nrun {result.run_id} succeeded; published under {root.uri}/published/:")
    print("  recommendations.parquet, metrics.parquet, report.html, run.json")
    metrics = pl.read_parquet(root.local("published", "metrics.parquet"))
    table = table_at_k(metrics, LOAD_TIME.evaluation.k).select(
        "model", *[c for c in ("ndcg", "precision", "recall", "rmse", "coverage")]
    )
    print(f"\nheadline metrics on the test split (k={LOAD_TIME.evaluation.k}):")
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=20):
        print(table)
    return 0


def config(path: str | None) -> int:
    """Validate a settings file (default: the project file) and print the effective settings."""
    try:
        settings = load_settings(path or "")
    except ConfigError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    print(yaml.safe_dump(settings.to_dict(), sort_keys=False), end="")
    return 0


def rollback(run_id: str | None) -> int:
    """Make an earlier published run live again (or list the published runs)."""
    published = DataRoot().local("published", "x").parent
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
    go = sub.add_parser("run", help="materialize the whole asset graph once")
    go.add_argument("--demo", action="store_true", help="write demo ratings into an empty raw/")
    check = sub.add_parser("config", help="validate a settings file, print the effective settings")
    check.add_argument("file", nargs="?", help="a YAML settings file (default: the project file)")
    back = sub.add_parser("rollback", help="make an earlier published run live (no RUN_ID: list)")
    back.add_argument("run_id", nargs="?", help="a run id from published/history/")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.demo)
    if args.command == "config":
        return config(args.file)
    return rollback(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
