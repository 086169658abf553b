"""Evaluation layer: every model fitted on train_ratings and scored on test_ratings."""

from collections.abc import Callable

import dagster as dg
import polars as pl
from recsys_core.hybrid.rating_blend import RatingBlend

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import HYBRID_PARTS, load_hybrid, model_path
from pipeline.config import TUNED_FILE, RecsysSettings, run_settings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core import Hybrid, KNNWithMeans, Popularity, PureSVD, Recommender
from recsys_core.evaluation.grid import best_params, grid_search
from recsys_core.evaluation.protocol import evaluate
from recsys_core.models.mf import SVD
from recsys_core.params import as_dict
from recsys_core.publish.files import atomic_write, write_json_atomic, write_parquet_atomic
from recsys_core.settings import TUNED_BY, Settings, hybrid_params

GROUP = "evaluation"


CANDIDATES: dict[str, Callable[[Settings], Recommender]] = {
    "popularity": lambda s: Popularity(**as_dict(s.models.popularity)),
    "item_knn": lambda s: KNNWithMeans(**as_dict(s.models.item_knn)),
    "svd": lambda s: SVD(**as_dict(s.models.svd)),
    "pure_svd": lambda s: PureSVD(**as_dict(s.models.pure_svd)),
    "hybrid": lambda s: Hybrid(**hybrid_params(s)),
    "rating_blend": lambda s: RatingBlend(**as_dict(s.models.rating_blend)),
}
"""The models compared in the evaluation, configured as in production, in report order."""
EVAL_MODELS = "eval"
"""models/eval/: the evaluation's fits of the hybrid's parts, which ``eval_hybrid`` loads."""


def _score(
    context: dg.AssetExecutionContext,
    data_root: DataRoot,
    settings: Settings,
    name: str,
    model: Recommender,
    test: pl.DataFrame,
    train: pl.DataFrame,
) -> dg.MaterializeResult:
    """Evaluate one fitted model; its metrics and test-pair estimates go to warehouse/eval/."""
    cfg = settings.evaluation
    context.log.info("evaluating %s", name)
    est = model.predict(test)
    frame = evaluate(model, test, name, cfg.k, cfg.threshold, train=train, estimates=est)
    out = write_parquet_atomic(frame, data_root.warehouse(EVAL_MODELS, f"{name}_metrics.parquet"))
    estimates = pl.DataFrame({f"est_{name}": est})
    write_parquet_atomic(estimates, data_root.warehouse(EVAL_MODELS, f"{name}_estimates.parquet"))
    headline = {
        f"{metric}@{k}" if k else metric: dg.MetadataValue.float(v)
        for metric, k, v in frame.filter(pl.col("segment") == "all")
        .select("metric", "k", "value")
        .iter_rows()
        if metric in ("ndcg", "precision", "rmse") and k in (None, cfg.k)
    }
    return dg.MaterializeResult(metadata=headline, data_version=data_version(out))


def _eval_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"eval_{name}",
        deps=["train_ratings", "test_ratings"],
        group_name=GROUP,
        owners=OWNERS,
        kinds={"polars", "parquet"},
        code_version="1",
        description=f"The {name} model fitted on the training split and scored on the test "
        f"split (metrics and test-pair estimates in warehouse/eval/{name}_*.parquet).",
    )
    def _evaluate(
        context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
    ) -> dg.MaterializeResult:
        train = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
        test = pl.read_parquet(data_root.warehouse("test_ratings.parquet"))
        effective = run_settings(settings, data_root)
        model = CANDIDATES[name](effective).fit(train)
        if name in HYBRID_PARTS.values():
            model.save(model_path(data_root, f"{EVAL_MODELS}/{name}"))
        return _score(context, data_root, effective, name, model, test, train)

    return _evaluate


EVAL_ASSETS = [_eval_asset(name) for name in CANDIDATES if name != "hybrid"]


@dg.asset(
    deps=[f"eval_{m}" for m in sorted(set(HYBRID_PARTS.values()))] + ["hybrid_tuning"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="1",
    description="The hybrid as published (weights from hybrid_tuning), assembled from the "
    "evaluation's own fits of its parts on the training split, scored on the test split.",
)
def eval_hybrid(
    context: dg.AssetExecutionContext, settings: RecsysSettings, data_root: DataRoot
) -> dg.MaterializeResult:
    effective = run_settings(settings, data_root)
    hybrid = load_hybrid(data_root, effective, folder=EVAL_MODELS)
    train = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
    test = pl.read_parquet(data_root.warehouse("test_ratings.parquet"))
    return _score(context, data_root, effective, "hybrid", hybrid, test, train)


@dg.asset(
    deps=[f"eval_{name}" for name in CANDIDATES],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="3",
    description="Long-format metrics (run_id, model, metric, k, segment, value) of every model "
    "fitted on the training split: RMSE/MAE where defined, precision/recall/NDCG/MAP/hit@k, "
    "coverage and beyond-accuracy measures; test-pair estimates of every model in "
    "warehouse/test_predictions.parquet.",
)
def evaluation(context: dg.AssetExecutionContext, data_root: DataRoot) -> dg.MaterializeResult:
    folder = data_root.warehouse(EVAL_MODELS, ".")
    frames = [pl.read_parquet(folder / f"{name}_metrics.parquet") for name in CANDIDATES]
    metrics = pl.concat(frames).select(pl.lit(context.run.run_id).alias("run_id"), pl.all())
    out = write_parquet_atomic(metrics, data_root.warehouse("metrics.parquet"))
    test = pl.scan_parquet(data_root.warehouse("test_ratings.parquet"))
    estimates = [pl.scan_parquet(folder / f"{name}_estimates.parquet") for name in CANDIDATES]
    predictions = pl.concat(
        [test.select("user_id", "item_id", "rating"), *estimates], how="horizontal"
    )
    atomic_write(data_root.warehouse("test_predictions.parquet"), predictions.sink_parquet)
    headline = {
        f"{m}/{metric}": dg.MetadataValue.float(v)
        for m, metric, v in metrics.filter(pl.col("segment") == "all")
        .select("model", "metric", "value")
        .iter_rows()
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
