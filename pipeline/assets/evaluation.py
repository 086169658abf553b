"""Evaluation layer: every model fitted on train_ratings and scored on test_ratings."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.config import RecsysSettings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core import Popularity, Recommender
from recsys_core.evaluation.protocol import evaluate
from recsys_core.params import as_dict
from recsys_core.publish.files import write_parquet_atomic
from recsys_core.settings import Settings

GROUP = "evaluation"


def candidates(settings: Settings) -> dict[str, Recommender]:
    """The models compared in the evaluation, by name, configured as in production."""
    return {"popularity": Popularity(**as_dict(settings.models.popularity))}


@dg.asset(
    deps=["train_ratings", "test_ratings"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="1",
    description="Long-format metrics (run_id, model, metric, k, value): RMSE/MAE and "
    "precision/recall/NDCG/MAP/hit@k and coverage of each model on the test split.",
)
def evaluation(
    context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.MaterializeResult:
    train = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
    test = pl.read_parquet(data_root.warehouse("test_ratings.parquet"))
    effective = settings.effective()
    cfg = effective.evaluation
    frames = [
        evaluate(model.fit(train), test, name, k=cfg.k, threshold=cfg.threshold)
        for name, model in candidates(effective).items()
    ]
    metrics = pl.concat(frames).select(pl.lit(context.run.run_id).alias("run_id"), pl.all())
    out = write_parquet_atomic(metrics, data_root.warehouse("metrics.parquet"))
    headline = {
        f"{m}/{metric}": dg.MetadataValue.float(v)
        for m, metric, v in metrics.select("model", "metric", "value").iter_rows()
        if metric in ("ndcg", "precision", "rmse")
    }
    return dg.MaterializeResult(
        metadata={**table_metadata(metrics, out), **headline}, data_version=data_version(out)
    )
