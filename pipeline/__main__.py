"""Command line.

``python -m pipeline run [--demo] [--force]`` materializes the whole graph once (``make run``
adds ``--demo``: on a new data root with an empty ``raw/`` it writes the built-in demo ratings
there first), unless the raw files, settings and code are the live run's: then it says so in
one line and exits 0 (``--force`` runs anyway); ``python -m pipeline refresh`` runs the refresh
job once (fresh lists for the users whose ratings arrived in raw files new or changed since the
live run, from the night's models); ``python -m pipeline config [FILE]`` validates a settings
file and prints the effective settings; ``python -m pipeline runs`` lists the published runs;
``python -m pipeline rollback [RUN_ID]`` makes an earlier published run live again (a unique
prefix of its id is enough); ``python -m pipeline recommend USER_ID [--n N]`` prints that
user's live list.
"""

import argparse
import os
import sys
import time

import dagster as dg
import polars as pl
import yaml

from pipeline.definitions import defs, nightly
from pipeline.lock import LockHeldError, hold_lock
from pipeline.orphans import reap_orphans, run_tags
from pipeline.publishing import Published
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME, load_settings
from pipeline.unchanged import unchanged_since_live
from recsys_core.data.items import find_items_file, read_items
from recsys_core.data.readers import raw_files
from recsys_core.data.synthetic import demo_ratings
from recsys_core.errors import ConfigError, DataError
from recsys_core.publish import history
from recsys_core.publish.files import write_csv_atomic
from recsys_core.report.html import table_at_k

DEMO_FILE = "demo_ratings.csv"


def _execute(instance: dg.DagsterInstance | None) -> dg.JobExecutionResult:
    """The nightly job with the configured executor, through a reconstructable job (step
    processes of multiprocess, dask or k8s load it again; they need a persistent instance,
    DAGSTER_HOME). Not ``JobDefinition.execute_in_process``, even in one process: that keeps every
    step's output in memory for its result (at 25M ratings the frames and models of all earlier
    steps, ~3 GiB by the night's last steps)."""
    if instance is None and LOAD_TIME.execution.executor != "in_process":
        raise SystemExit(
            f"execution.executor {LOAD_TIME.execution.executor!r} needs DAGSTER_HOME set to a "
            "folder (step processes share the run's storage); `make run` sets it"
        )
    # the result is not entered as a context manager: that would initialise the resources
    # again (the data root's lock among them) to read outputs, which nothing here reads
    return dg.execute_job(
        dg.reconstructable(nightly),
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags=run_tags(),
    )


def write_demo(root: DataRoot) -> str:
    """Write the demo ratings into an empty ``raw/`` of a new data root; say what was done."""
    raw = root.local("raw")
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


def failure_reason(result: dg.ExecuteInProcessResult | dg.JobExecutionResult) -> str:
    """Why a run failed, in one line: the failed blocking checks with their problems, else the
    failing step (or resource) and the innermost error's message."""
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    if failed:
        return "blocking check failed: " + "; ".join(
            f"{c.asset_key.to_user_string()}:{c.check_name} ({c.description or 'failed'})"
            for c in failed
        )
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            while error.cause is not None:
                error = error.cause
            message = error.message.strip().splitlines()[-1] if error.message else "failed"
            message = message.removeprefix("dagster._core.definitions.events.Failure: ")
            return f"{event.step_key or 'run start'}: {message}"
    return "see the run's events"


def run(demo: bool = False, force: bool = False) -> int:
    """Run the nightly job once (with the configured executor) against the project's instance;
    unless ``force``, not when it would redo the live run (one line says so, exit 0)."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    root = DataRoot()
    if instance is None:
        print("DAGSTER_HOME is not set: this run's history is kept nowhere (`make run` sets "
              "./dagster_home)", file=sys.stderr)  # fmt: skip
    else:
        for orphan in reap_orphans(instance):
            print(f"run {orphan} had died without a word: marked failed", file=sys.stderr)
    if demo:
        print(write_demo(root))
    same = None if force else unchanged_since_live(root)
    if same:
        print(f"run skipped: {same} (--force runs it anyway)")
        return 0
    result = _execute(instance)
    live = Published(root).current_run()
    if not result.success:
        if not live:
            state = "nothing was ever published"
        else:
            state = "its lists are live" if live == result.run_id else f"run {live} stays live"
        print(f"run {result.run_id} FAILED ({state}): {failure_reason(result)}", file=sys.stderr)
        return 1
    print(f"run {result.run_id} succeeded; published under {root.uri}/published/ "
          "(recommendations, similar_items, metrics, report.html, run.json)")  # fmt: skip
    metrics = pl.read_parquet(root.local("published", "metrics.parquet"))
    table = table_at_k(metrics, LOAD_TIME.evaluation.k)
    shown = ("ndcg", "precision", "recall", "rmse", "coverage")  # no rmse on implicit feedback
    table = table.select("model", *[c for c in shown if c in table.columns])
    print(f"headline metrics on the test split (k={LOAD_TIME.evaluation.k}):")
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=20,
                   float_precision=4, tbl_formatting="ASCII_MARKDOWN"):  # fmt: skip
        print(table)
    return 0


def refresh() -> int:
    """Run the refresh job once in this process and say what it published (or why nothing)."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is not None:
        for orphan in reap_orphans(instance):
            print(f"run {orphan} had died without a word: marked failed", file=sys.stderr)
    job, start = defs.resolve_job_def("refresh"), time.perf_counter()
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags=run_tags())
    seconds = time.perf_counter() - start
    root = DataRoot()
    live = Published(root).current_run()
    if not result.success:
        print(f"refresh {result.run_id} FAILED (run {live} stays live): "
              f"{failure_reason(result)}", file=sys.stderr)  # fmt: skip
        return 1
    if live != result.run_id:
        plan = _materialized(result, "refresh_plan")
        why = plan.get("stopped", "the new ratings change no user's ratings of the night's items")
        print(f"refresh {result.run_id}: nothing published ({why}); run {live} stays live")
        return 0
    done = Published(root).live_record()["refresh"]
    print(f"refresh {result.run_id} published under {root.uri}/published/: "
          f"{done['users_refreshed']:,} user list(s) rewritten ({done['new_users']:,} new users) "
          f"from {done['new_ratings']:,} new rating(s) in {seconds:.1f} s")  # fmt: skip
    return 0


def _materialized(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """The metadata values of ``asset``'s materialization in ``result`` (empty: none)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            meta = event.materialization.metadata
            return {k: getattr(v, "value", v) for k, v in meta.items()}
    return {}


def config(path: str | None) -> int:
    """Validate a settings file (default: the project file) and print the effective settings."""
    try:
        settings = load_settings(path or "")
    except ConfigError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    print(yaml.safe_dump(settings.to_dict(), sort_keys=False), end="")
    return 0


def runs() -> int:
    """List the published runs of the data root, oldest first, the live one marked."""
    published = DataRoot().local("published")
    print(f"{'run':36}  {'date (UTC)':25}  {'ratings':>9}  {'users':>7}  {'NDCG':>6}  gate")
    for row in history.runs(published):
        ndcg = "-" if row.ndcg is None else f"{row.ndcg:.4f}"
        live = ("  (refresh)" if row.kind == "refresh" else "") + ("  (live)" if row.live else "")
        counts = f"{row.ratings or 0:>9,}  {row.users or 0:>7,}"
        print(f"{row.run_id:36}  {row.date or '-':25}  {counts}  {ndcg:>6}  {row.gate}{live}")
    return 0


def rollback(run_id: str | None) -> int:
    """Make an earlier published run live again (a unique prefix of its id is enough), holding
    the data root's lock so no run publishes meanwhile; without RUN_ID, list the runs."""
    if run_id is None:
        return runs()
    root = DataRoot()
    published = root.local("published")
    try:
        with hold_lock(root.uri, "rollback"):
            full = history.resolve_run(published, run_id)
            history.make_live(published, full)
    except (DataError, LockHeldError) as exc:
        print(f"rollback refused: {exc}", file=sys.stderr)
        return 2
    print(f"run {full} is live again: {published / 'recommendations.parquet'}")
    return 0


def recommend(user: str, n: int | None) -> int:
    """Print one user's live list (with titles when the data root's ``items/`` folder holds an
    items file: ``u.item`` or ``movies.csv``)."""
    root = DataRoot()
    live = root.local("published", "recommendations.parquet")
    if not live.is_file():
        print(
            f"no live table under {root.uri}/published: run the nightly job first", file=sys.stderr
        )
        return 2
    ids = pl.read_parquet_schema(live)["user_id"]
    if ids == pl.Int64 and not user.lstrip("-").isdigit():
        rows = pl.DataFrame()  # not an id of this table: integer ids
    else:
        key = int(user) if ids == pl.Int64 else user
        rows = pl.scan_parquet(live).filter(pl.col("user_id") == pl.lit(key, ids)).collect()
    if rows.height == 0:
        print(f"user {user!r} has no list in run {Published(root).current_run()} (unknown user: "
              "serve the fallback's list)", file=sys.stderr)  # fmt: skip
        return 1
    rows = rows.head(n) if n else rows
    items = find_items_file(root.local("items"))
    if items is not None:
        titles = read_items(items).select("item_id", "title")
        rows = rows.join(titles.cast({"item_id": rows.schema["item_id"]}), on="item_id", how="left")
    shown = [c for c in ("rank", "item_id", "title", "score", "source") if c in rows.columns]
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   float_precision=4, tbl_rows=100, fmt_str_lengths=60):  # fmt: skip
        print(f"user {user}, run {rows['run_id'][0]}:")
        print(rows.select(shown))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="materialize the whole asset graph once")
    go.add_argument("--demo", action="store_true", help="write demo ratings into an empty raw/")
    go.add_argument("--force", action="store_true",
                    help="run even on the live run's raw files, settings and code")  # fmt: skip
    sub.add_parser("refresh", help="fold new raw files into the lists of the users they touch")
    check = sub.add_parser("config", help="validate a settings file, print the effective settings")
    check.add_argument("file", nargs="?", help="a YAML settings file (default: the project file)")
    back = sub.add_parser("rollback", help="make an earlier published run live (no RUN_ID: list)")
    back.add_argument("run_id", nargs="?", help="a run id (or a unique prefix) from `runs`")
    sub.add_parser("runs", help="list the published runs, the live one marked")
    show = sub.add_parser("recommend", help="print one user's live list")
    show.add_argument("user_id", help="the user's own id, as in the raw files")
    show.add_argument("--n", type=int, default=None, help="show only the first N rows")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.demo, args.force)
    if args.command == "refresh":
        return refresh()
    if args.command == "config":
        return config(args.file)
    if args.command == "runs":
        return runs()
    if args.command == "recommend":
        return recommend(args.user_id, args.n)
    return rollback(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
