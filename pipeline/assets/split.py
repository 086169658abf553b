"""Split layer: validated ratings -> seeded train/test hold-out for evaluation."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS, RATING_COLUMNS
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core.data.split import random_split

GROUP = "split"
PARTS = {"train_ratings": "training", "test_ratings": "test"}


@dg.multi_asset(
    outs={
        name: dg.AssetOut(
            description=f"The {part} side of the seeded random evaluation split (split.*).",
            metadata={"columns": RATING_COLUMNS},
            kinds={"polars", "parquet"},
            owners=OWNERS,
            code_version="2",
        )
        for name, part in PARTS.items()
    },
    group_name=GROUP,
)
def evaluation_split(settings: RecsysSettings, ratings: pl.DataFrame) -> Iterator[dg.Output]:
    cfg = settings.effective.split
    split = random_split(ratings, cfg.test_fraction, cfg.random_state)
    yield output(split.train, "train_ratings")
    yield output(split.test, "test_ratings")
