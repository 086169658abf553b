"""Models layer: the production models, fitted on all validated ratings."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.config import RecsysSettings
from pipeline.metadata import data_version
from pipeline.resources import DataRoot
from recsys_core import Popularity
from recsys_core.params import as_dict

GROUP = "models"


@dg.asset(
    deps=["ratings"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"numpy"},
    code_version="1",
    description="Popularity (rating count) fitted on all validated ratings; the cold-start "
    "fallback and the baseline every model is compared with. Saved as .npz.",
)
def popularity_model(settings: RecsysSettings, data_root: DataRoot) -> dg.MaterializeResult:
    params = settings.effective().models.popularity
    model = Popularity(**as_dict(params)).fit(
        pl.read_parquet(data_root.warehouse("ratings.parquet"))
    )
    out = model.save(data_root.model("popularity.npz"))
    return dg.MaterializeResult(
        metadata={
            "users": model.data.n_users,
            "items": model.data.n_items,
            "dagster/uri": str(out),
        },
        data_version=data_version(out),
    )
