"""When runs start: the nightly and refresh jobs, the schedule, and the new-raw-file sensor.

Both start STOPPED (Dagster's default); switch them on in the UI (Automation tab). Cron,
timezone, sensor interval and settle time come from the ``automation`` settings section
(defaults < project file), read when the code location loads. Neither starts a night that would
redo the live run (same raw files, settings and code: :mod:`pipeline.unchanged`); the tick is
skipped with a reason naming the live run.

Runs that write the data root never overlap: each takes the data root's lock in its first step,
and each carries the tag ``recsys/writer``, which ``dagster_home/dagster.yaml`` limits to one
run at a time in the run queue. A night outranks queued refreshes (``dagster/priority``), and a
refresh stops at once if a night is queued or running: the night reads every file anyway.
"""

import dagster as dg

from pipeline.logs import LOGGING
from pipeline.publishing import Published
from pipeline.refreshing import pending_night
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME
from pipeline.unchanged import unchanged_since_live
from recsys_core.data import watch

AUTOMATION = LOAD_TIME.automation

TUNING = dg.AssetSelection.assets("model_tuning")
REFRESH = dg.AssetSelection.groups("refresh")
NIGHTLY = dg.AssetSelection.all() - TUNING - REFRESH
"""What a night materializes: everything but the tuning job's grid and the refresh group."""
WRITER = {"recsys/writer": "data_root"}
"""Tag of every job that writes the data root (the run queue runs one at a time)."""

nightly_job = dg.define_asset_job(
    "nightly",
    selection=NIGHTLY,
    description="The whole graph: ingest -> split -> models -> evaluation -> gated publish.",
    tags={
        "recsys/job": "nightly",
        "dagster/max_runtime": str(6 * 3600),
        "dagster/priority": "1",
        **WRITER,
    },
    config=LOGGING,
)

refresh_job = dg.define_asset_job(
    "refresh",
    selection=REFRESH,
    description="Folds the ratings of raw files new or changed since the live run into the "
    "lists of the users they touch, from the night's models (no refit), then publishes after "
    "the same blocking checks. Always in one process: it is small, and holds the lock once.",
    tags={"recsys/job": "refresh", "dagster/max_runtime": str(3600), **WRITER},
    executor_def=dg.in_process_executor,
    config=LOGGING,
)

tuning_job = dg.define_asset_job(
    "tuning",
    # upstream of the tuning, plus the other outputs of the multi-assets it needs (one step each)
    selection=TUNING.upstream()
    | dg.AssetSelection.assets("test_ratings", "quarantine", "ingest_summary"),
    description="Grid search over item-KNN and biased-MF parameters (k-fold CV on the training "
    "split); "
    "not part of the nightly job. Set tuning.apply to make the nightly models use the result.",
    tags={"recsys/job": "tuning", **WRITER},
    config=LOGGING,
)


@dg.schedule(
    name="nightly_schedule",
    job=nightly_job,
    cron_schedule=AUTOMATION.cron,
    execution_timezone=AUTOMATION.timezone,
    description=f"Retrain and republish at '{AUTOMATION.cron}' ({AUTOMATION.timezone}), "
    "unless the raw files, settings and code are the live run's (the tick is skipped, naming it).",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, data_root: DataRoot):
    same = unchanged_since_live(data_root)
    return dg.SkipReason(same) if same else dg.RunRequest()


@dg.sensor(
    jobs=[nightly_job, refresh_job],
    minimum_interval_seconds=AUTOMATION.sensor_interval_seconds,
    description="When a raw file is new or its content changed, once it is quiet (same size and "
    "time at two ticks, and settle_seconds old), starts a refresh (a night is live: fresh lists "
    "for the users the file touches) or the first night; nothing while a night is queued or "
    "running (it reads the file). .part and hidden files are never read: upload under such a "
    "name, then rename.",
)
def new_raw_file_sensor(context: dg.SensorEvaluationContext, data_root: DataRoot):
    if not data_root.is_local:
        return dg.SkipReason(
            f"{data_root.uri} is not a local folder: the sensor watches local roots"
        )
    raw = data_root.local("raw")
    found = watch.scan(raw, context.cursor, AUTOMATION.settle_seconds)
    if not found.changed:
        waiting = f" ({len(found.unsettled)} still being written)" if found.unsettled else ""
        return dg.SensorResult(
            skip_reason=f"no new or changed raw file{waiting}", cursor=found.cursor
        )
    night = pending_night(context.instance)
    if night is not None:
        why = f"night {night} is queued or running: it reads the new files"
        return dg.SensorResult(skip_reason=why, cursor=found.cursor)
    same = unchanged_since_live(data_root)
    if same:  # e.g. a file put back as it was when the live run read it
        return dg.SensorResult(skip_reason=same, cursor=found.cursor)
    key = watch.run_key(found.cursor, found.changed)
    job = refresh_job if Published(data_root).current_run() else nightly_job
    request = dg.RunRequest(
        run_key=key,
        job_name=job.name,
        tags={"recsys/trigger": "raw_file", "recsys/files": key[:200]},
    )
    return dg.SensorResult(run_requests=[request], cursor=found.cursor)
