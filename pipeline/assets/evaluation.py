"""Evaluation layer: every model fitted on train_ratings and scored on test_ratings, the
published hybrid assembled from those fits, and the combined metrics the gate reads."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import HYBRID_PARTS, MODELS, fitted_model, make
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import Hybrid, Recommender
from recsys_core.evaluation.grid import best_params, grid_search
from recsys_core.evaluation.protocol import evaluate
from recsys_core.settings import TUNED_BY, Settings, hybrid_params

GROUP = "evaluation"

TRAIN_MODELS = [
    fitted_model(name, "train_model", "train_ratings", "Fitted on the training split.")
    for name in MODELS
]


def _metrics(
    settings: Settings, name: str, model: Recommender, train: pl.DataFrame, test: pl.DataFrame
) -> dg.Output:
    """The long-format metrics of one fitted model on the test split, headline in metadata."""
    k = settings.evaluation.k
    frame = evaluate(model, test, name, k, settings.evaluation.threshold, train=train)
    headline = {
        f"{metric}@{k}" if at else metric: value
        for metric, at, value in frame.filter(pl.col("segment") == "all")
        .select("metric", "k", "value")
        .iter_rows()
        if metric in ("ndcg", "precision", "rmse") and at in (None, k)
    }
    return output(frame, **headline)


def metrics_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{name}_metrics",
        ins={"model": dg.AssetIn(f"{name}_train_model")},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"polars"},
        code_version="2",
        description=f"The {name} model's metrics on the test split (model, metric, k, segment, "
        "value): RMSE/MAE where it predicts ratings, ranking metrics at k and the curve's k, "
        "coverage and beyond-accuracy measures.",
    )
    def _evaluate(
        settings: RecsysSettings,
        model: Recommender,
        train_ratings: pl.DataFrame,
        test_ratings: pl.DataFrame,
    ) -> dg.Output:
        return _metrics(settings.effective, name, model, train_ratings, test_ratings)

    return _evaluate


MODEL_METRICS = [metrics_asset(name) for name in MODELS]


@dg.asset(
    ins={f"{name}_train_model": dg.AssetIn() for name in HYBRID_PARTS},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="2",
    description="The hybrid as published (settings from hybrid_tuning), assembled from the "
    "training-split fits of its parts, scored on the test split.",
)
def hybrid_metrics(
    settings: RecsysSettings,
    hybrid_tuning: dict,
    train_ratings: pl.DataFrame,
    test_ratings: pl.DataFrame,
    **parts: Recommender,
) -> dg.Output:
    s = settings.effective
    fitted = {name: parts[f"{name}_train_model"] for name in HYBRID_PARTS}
    hybrid = Hybrid.assemble(fitted, fitted["popularity"], hybrid_tuning, **hybrid_params(s))
    return _metrics(s, "hybrid", hybrid, train_ratings, test_ratings)


@dg.asset(
    ins={f"{name}_metrics": dg.AssetIn() for name in [*MODELS, "hybrid"]},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="4",
    description="Every evaluated model's metrics in one table (run_id, model, metric, k, "
    "segment, value); the publish gate (quality_gate) checks it.",
)
def evaluation(context: dg.AssetExecutionContext, **metrics: pl.DataFrame) -> dg.Output:
    frame = pl.concat(list(metrics.values()))
    frame = frame.select(pl.lit(context.run.run_id).alias("run_id"), pl.all())
    return output(frame)


TUNABLE = ("item_knn", "biased_mf")


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="2",
    description="Grid search with k-fold cross-validation on the training split (Surprise's "
    "GridSearchCV) over tuning.grid: the best parameters per model section (item_knn by NDCG@k, "
    "biased_mf by RMSE), used by the nightly models when tuning.apply is true. Runs in the "
    "'tuning' job, not nightly.",
)
def model_tuning(
    context: dg.AssetExecutionContext, settings: RecsysSettings, train_ratings: pl.DataFrame
) -> dg.Output:
    s, best, rows = settings.effective, {}, []
    cfg, ev = s.tuning, s.evaluation
    for section, grid in cfg.grid.items():
        base = make(section, s)
        trials = grid_search(type(base), base.params.model_dump(), grid, train_ratings,
                             cfg.n_splits, cfg.random_state, ev.k, ev.threshold)  # fmt: skip
        context.log.info("%s: %d candidates", section, trials.height)
        best[section] = best_params(trials, by=TUNED_BY[section])
        rows += [{"model": section, **row} for row in trials.to_dicts()]
    return output(best, trials=rows)
