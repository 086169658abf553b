"""Evaluation layer: every model fitted on train_ratings and scored on test_ratings, the
published hybrid assembled from those fits, and the combined metrics the gate reads."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.assets.models import (
    BASELINES,
    evaluated_ratings,
    fitted_model,
    hybrid_asset,
    make,
    skip_reason,
)
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import Hybrid, Recommender
from recsys_core.evaluation.grid import best_params, grid_search
from recsys_core.evaluation.protocol import evaluate, metrics_frame
from recsys_core.evaluation.sample import same_users
from recsys_core.settings import TUNED_BY, Settings

GROUP = "evaluation"
METRIC_COLUMNS = {
    "run_id": "The run that evaluated (the combined table only).",
    "model": "The evaluated model (hybrid, a component it kept, or a baseline).",
    "metric": "ndcg, precision, recall, map, hit, coverage, rmse, mae, ... (see the glossary).",
    "k": "The list length the metric judges (none for rmse/mae).",
    "segment": "all, a user segment (cold/warm/heavy_users) or last_item (similar items).",
    "value": "The metric's value.",
}

TRAIN_MODELS = [
    fitted_model(name, "train_model", "train_ratings", "Fitted on the training split.")
    for name in BASELINES
]
HYBRID_TRAIN_MODEL = hybrid_asset(
    "hybrid_train_model", "train_ratings", "popularity_train_model", "hybrid_tuning",
    "Fitted on the training split; iALS starts from the factors the choice fitted on its "
    "validation split's training part (tuned_hybrid) and runs a third of its sweeps.",
    start="tuned_hybrid",
)  # fmt: skip


def _metrics(
    settings: Settings, name: str, model: Recommender, train: pl.DataFrame, test: pl.DataFrame
) -> pl.DataFrame:
    """The long-format metrics of one fitted model on the test split (no RMSE/MAE on implicit
    feedback: there is no rating to compare a prediction with)."""
    ev, explicit = settings.evaluation, settings.ingest.feedback == "explicit"
    return evaluate(model, test, name, ev.k, ev.threshold, train=train, rating_metrics=explicit,
                    max_users=ev.max_users, random_state=settings.split.random_state)  # fmt: skip


def _output(frame: pl.DataFrame, k: int) -> dg.Output:
    """The metrics table, with each model's headline at k in the metadata."""
    headline = {
        f"{model}/{metric}@{k}" if at else f"{model}/{metric}": value
        for model, metric, at, value in frame.filter(pl.col("segment") == "all")
        .select("model", "metric", "k", "value")
        .iter_rows()
        if metric in ("ndcg", "precision", "rmse") and at in (None, k)
    }
    return output(frame, **headline)


def metrics_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{name}_metrics",
        ins={"model": dg.AssetIn(f"{name}_train_model", dagster_type=dg.Any)},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"polars"},
        code_version="4",
        metadata={"columns": METRIC_COLUMNS},
        description=f"The {name} model's metrics on the test split (model, metric, k, segment, "
        "value): RMSE/MAE where it predicts ratings, ranking metrics at k and the curve's k, "
        "coverage and beyond-accuracy measures (a rating model: on the test pairs of the user "
        "sample it was fitted on, evaluation.rating_sample); no rows when the model was skipped.",
    )
    def _evaluate(
        settings: RecsysSettings,
        model: Recommender | dict,
        train_ratings: pl.DataFrame,
        test_ratings: pl.DataFrame,
    ) -> dg.Output:
        s = settings.effective
        if isinstance(model, dict):  # skipped tonight, and why
            return output(metrics_frame(name, []), skipped=model["skipped"])
        train = evaluated_ratings(name, train_ratings, s)
        test = test_ratings if train is train_ratings else same_users(test_ratings, train)
        return _output(_metrics(s, name, model, train, test), s.evaluation.k)

    return _evaluate


MODEL_METRICS = [metrics_asset(name) for name in BASELINES]


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="4",
    metadata={"columns": METRIC_COLUMNS},
    description="The published hybrid's metrics on the test split (its training-split fit), "
    "and each component it kept, alone: the same fits, scored on their own.",
)
def hybrid_metrics(
    settings: RecsysSettings,
    hybrid_train_model: Hybrid,
    train_ratings: pl.DataFrame,
    test_ratings: pl.DataFrame,
) -> dg.Output:
    s = settings.effective
    models = {"hybrid": hybrid_train_model, **hybrid_train_model.components_}
    frames = [_metrics(s, n, m, train_ratings, test_ratings) for n, m in models.items()]
    return _output(pl.concat(frames), s.evaluation.k)


@dg.asset(
    ins={f"{name}_metrics": dg.AssetIn() for name in [*BASELINES, "hybrid", "similar_items"]},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="5",
    metadata={"columns": METRIC_COLUMNS},
    description="Every evaluated model's metrics in one table (run_id, model, metric, k, "
    "segment, value); the publish gate (quality_gate) checks it.",
)
def evaluation(
    context: dg.AssetExecutionContext, settings: RecsysSettings, **metrics: pl.DataFrame
) -> dg.Output:
    frame = pl.concat(list(metrics.values()))
    frame = frame.select(pl.lit(context.run.run_id).alias("run_id"), pl.all())
    return _output(frame, settings.effective.evaluation.k)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="2",
    description="Grid search with k-fold cross-validation on the training split (Surprise's "
    "GridSearchCV) over tuning.grid: the best parameters per model section (item_knn by NDCG@k, "
    "biased_mf by RMSE; not on implicit feedback), used by the nightly models when tuning.apply "
    "is true. Runs in the 'tuning' job, not nightly.",
)
def model_tuning(
    context: dg.AssetExecutionContext, settings: RecsysSettings, train_ratings: pl.DataFrame
) -> dg.Output:
    s, best, rows = settings.effective, {}, []
    cfg, ev = s.tuning, s.evaluation
    for section, grid in cfg.grid.items():
        if skipped := skip_reason(section, s):
            context.log.info(skipped)
            continue
        base = make(section, s)
        trials = grid_search(type(base), base.params.model_dump(), grid, train_ratings,
                             cfg.n_splits, cfg.random_state, ev.k, ev.threshold)  # fmt: skip
        context.log.info("%s: %d candidates", section, trials.height)
        best[section] = best_params(trials, by=TUNED_BY[section])
        rows += [{"model": section, **row} for row in trials.to_dicts()]
    return output(best, trials=rows)
