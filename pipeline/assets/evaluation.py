"""Evaluation layer: every model fitted on train_ratings and scored on test_ratings."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.config import TUNED_FILE, RecsysSettings, run_settings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core import Hybrid, KNNWithMeans, Popularity, PureSVD, Recommender
from recsys_core.evaluation.grid import best_params, grid_search
from recsys_core.evaluation.protocol import evaluate
from recsys_core.hybrid.rating_blend import RatingBlend
from recsys_core.models.mf import SVD
from recsys_core.params import as_dict
from recsys_core.publish.files import write_json_atomic, write_parquet_atomic
from recsys_core.settings import TUNED_BY, Settings, hybrid_params

GROUP = "evaluation"


def candidates(settings: Settings) -> dict[str, Recommender]:
    """The models compared in the evaluation, by name, configured as in production."""
    m = settings.models
    return {
        "popularity": Popularity(**as_dict(m.popularity)),
        "item_knn": KNNWithMeans(**as_dict(m.item_knn)),
        "svd": SVD(**as_dict(m.svd)),
        "pure_svd": PureSVD(**as_dict(m.pure_svd)),
        "hybrid": Hybrid(**hybrid_params(settings)),
        "rating_blend": RatingBlend(**as_dict(m.rating_blend)),
    }


@dg.asset(
    deps=["train_ratings", "test_ratings"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="2",
    description="Long-format metrics (run_id, model, metric, k, value) of every model fitted on "
    "the training split: RMSE/MAE where defined, precision/recall/NDCG/MAP/hit@k and coverage; "
    "test-pair estimates in warehouse/test_predictions.parquet.",
)
def evaluation(
    context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.MaterializeResult:
    train = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
    test = pl.read_parquet(data_root.warehouse("test_ratings.parquet"))
    effective = run_settings(settings, data_root)
    cfg = effective.evaluation
    frames, estimates = [], {}
    for name, model in candidates(effective).items():
        context.log.info("evaluating %s", name)
        model.fit(train)
        estimates[f"est_{name}"] = est = model.predict(test)
        frames.append(evaluate(model, test, name, cfg.k, cfg.threshold, train=train, estimates=est))
    metrics = pl.concat(frames).select(pl.lit(context.run.run_id).alias("run_id"), pl.all())
    out = write_parquet_atomic(metrics, data_root.warehouse("metrics.parquet"))
    predictions = test.select("user_id", "item_id", "rating").with_columns(
        [pl.Series(k, v) for k, v in estimates.items()]
    )
    write_parquet_atomic(predictions, data_root.warehouse("test_predictions.parquet"))
    headline = {
        f"{m}/{metric}": dg.MetadataValue.float(v)
        for m, metric, v in metrics.select("model", "metric", "value").iter_rows()
        if metric in ("ndcg", "rmse")
    }
    return dg.MaterializeResult(
        metadata={**table_metadata(metrics, out), **headline}, data_version=data_version(out)
    )


TUNABLE: dict[str, type[Recommender]] = {"item_knn": KNNWithMeans, "svd": SVD}


@dg.asset(
    deps=["train_ratings"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="1",
    description="Grid search with k-fold cross-validation on the training split (Surprise's "
    "GridSearchCV): trials in warehouse/tuning_trials.parquet (params, mean/std of RMSE, MAE, "
    "NDCG@k); best parameters in models/best_params.json, used by the nightly models when "
    "tuning.apply is true. Runs in the 'tuning' job, not nightly.",
)
def model_tuning(
    context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.MaterializeResult:
    effective = settings.effective()  # tune from the configured values, not earlier results
    cfg, ev = effective.tuning, effective.evaluation
    train = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
    trials, best = [], {}
    for section, grid in cfg.grid.items():
        context.log.info("tuning %s over %s", section, grid)
        base = as_dict(getattr(effective.models, section))
        found = grid_search(
            TUNABLE[section], base, grid, train, cfg.n_splits, cfg.random_state, ev.k, ev.threshold
        )
        trials.append(found.select(pl.lit(section).alias("model"), pl.all()))
        best[section] = best_params(found, by=TUNED_BY[section])
    table = pl.concat(trials) if trials else pl.DataFrame()
    out = write_parquet_atomic(table, data_root.warehouse("tuning_trials.parquet"))
    tuned = write_json_atomic(best, data_root.model(TUNED_FILE))
    return dg.MaterializeResult(
        metadata={**table_metadata(table, out), "best": dg.MetadataValue.json(best)},
        data_version=data_version(tuned),
    )
