"""The code location: every asset, check, job, schedule, sensor and resource of the pipeline."""

import dagster as dg

from pipeline import checks
from pipeline.assets import evaluation, ingest, models, publish, refresh, similar, split
from pipeline.automation import (
    new_raw_file_sensor,
    nightly_job,
    nightly_schedule,
    refresh_job,
    tuning_job,
)
from pipeline.executors import executor_for
from pipeline.io_manager import RecsysStorage
from pipeline.lock import DataRootLock
from pipeline.logs import quiet_console
from pipeline.orphans import orphan_reaper_sensor
from pipeline.resources import DataRoot
from pipeline.settings import LOAD_TIME, RecsysSettings

ASSETS = dg.load_assets_from_modules([ingest, split, models, evaluation, publish, similar, refresh])
CHECKS = dg.load_asset_checks_from_modules([checks, similar, refresh])


def resources(root: str = "") -> dict:
    """The resources of a run over the data root ``root`` ('' = $RECSYS_DATA_DIR or ./data)."""
    data_root = DataRoot(root=root)
    return {
        "data_root": data_root,
        "settings": RecsysSettings(data_root=data_root),
        "io_manager": RecsysStorage(root=root),
        "lock": DataRootLock(root=root),
    }


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[nightly_job, refresh_job, tuning_job],
    schedules=[nightly_schedule],
    sensors=[new_raw_file_sensor, orphan_reaper_sensor],
    resources=resources(),
    loggers={"console": quiet_console},
    executor=executor_for(LOAD_TIME.execution),
)


def nightly() -> dg.JobDefinition:
    """The nightly job, for ``dg.reconstructable`` (executors that run steps in other
    processes load it again from here)."""
    return defs.resolve_job_def("nightly")
