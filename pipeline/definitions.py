"""The code location: every asset, check, job, schedule and resource of the pipeline."""

import dagster as dg

from pipeline import checks
from pipeline.assets import evaluation, ingest, models, publish, split
from pipeline.automation import new_raw_file_sensor, nightly_job, nightly_schedule, tuning_job
from pipeline.config import LOAD_TIME, RecsysSettings
from pipeline.executors import executor_for
from pipeline.resources import DataRoot

ASSETS = dg.load_assets_from_modules([ingest, split, models, evaluation, publish])
CHECKS = dg.load_asset_checks_from_modules([checks])

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[nightly_job, tuning_job],
    schedules=[nightly_schedule],
    sensors=[new_raw_file_sensor],
    resources={"data_root": DataRoot(), "settings": RecsysSettings()},
    executor=executor_for(LOAD_TIME.execution),
)


def nightly() -> dg.JobDefinition:
    """The nightly job, for ``dg.reconstructable`` (executors that run steps in other
    processes load it again from here)."""
    return defs.resolve_job_def("nightly")
