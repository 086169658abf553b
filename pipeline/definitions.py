"""The code location: every asset, check, job, schedule and resource of the pipeline."""

import dagster as dg

from pipeline import checks
from pipeline.assets import evaluation, ingest, models, publish, split
from pipeline.config import RecsysSettings
from pipeline.resources import DataRoot

ASSETS = dg.load_assets_from_modules([ingest, split, models, evaluation, publish])
CHECKS = dg.load_asset_checks_from_modules([checks])

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    description="The whole graph: ingest -> split -> models -> evaluation -> gated publish.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_schedule",
    job=nightly_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="Retrain and republish every night at 02:00 UTC.",
)

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    resources={"data_root": DataRoot(), "settings": RecsysSettings()},
    executor=dg.in_process_executor,
)
