"""Split layer: validated ratings -> seeded train/test hold-out for evaluation."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.config import RecsysSettings, run_settings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core.data.split import random_split
from recsys_core.publish.files import write_parquet_atomic

GROUP = "split"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name,
            deps=["ratings"],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"polars", "parquet"},
            code_version="1",
            description=f"The {part} side of the seeded random evaluation split.",
        )
        for name, part in (("train_ratings", "training"), ("test_ratings", "test"))
    ]
)
def split_ratings(settings: RecsysSettings, data_root: DataRoot) -> Iterator[dg.MaterializeResult]:
    ratings = pl.read_parquet(data_root.warehouse("ratings.parquet"))
    cfg = run_settings(settings, data_root).split
    split = random_split(ratings, cfg.test_fraction, cfg.random_state)
    for name, frame in (("train_ratings", split.train), ("test_ratings", split.test)):
        out = write_parquet_atomic(frame, data_root.warehouse(f"{name}.parquet"))
        yield dg.MaterializeResult(
            asset_key=name, metadata=table_metadata(frame, out), data_version=data_version(out)
        )
