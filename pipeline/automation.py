"""When runs start: the nightly job, its schedule, and the new-raw-file sensor.

Both start STOPPED (Dagster's default); switch them on in the UI (Automation tab). Cron,
timezone, sensor interval and settle time come from the ``automation`` settings section
(defaults < project file), read when the code location loads. Neither starts a night that would
redo the live run (same raw files, settings and code: :mod:`pipeline.unchanged`); the tick is
skipped with a reason naming the live run.
"""

import dagster as dg

from pipeline.logs import LOGGING
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME
from pipeline.unchanged import unchanged_since_live
from recsys_core.data import watch

AUTOMATION = LOAD_TIME.automation

TUNING = dg.AssetSelection.assets("model_tuning")

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all() - TUNING,
    description="The whole graph: ingest -> split -> models -> evaluation -> gated publish.",
    tags={"recsys/job": "nightly", "dagster/max_runtime": str(6 * 3600)},
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
    tags={"recsys/job": "tuning"},
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
    job=nightly_job,
    minimum_interval_seconds=AUTOMATION.sensor_interval_seconds,
    description="Starts one nightly run when a raw file is new or its content changed, once it is "
    "quiet (same size and time at two ticks, and settle_seconds old); .part and hidden files are "
    "never read: upload under such a name, then rename.",
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
    same = unchanged_since_live(data_root)
    if same:  # e.g. a file put back as it was when the live run read it
        return dg.SensorResult(skip_reason=same, cursor=found.cursor)
    key = watch.run_key(found.cursor, found.changed)
    request = dg.RunRequest(
        run_key=key, tags={"recsys/trigger": "raw_file", "recsys/files": key[:200]}
    )
    return dg.SensorResult(run_requests=[request], cursor=found.cursor)
