"""Models layer: the night's choice of components, hyperparameters and blend weights (on a
validation split carved from the training split), the published hybrid fitted with it, and
the baselines the evaluation compares with."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import SVD, Hybrid, Popularity, Recommender
from recsys_core.models.rating_blend import RatingBlend
from recsys_core.params import as_dict
from recsys_core.ranking.choice import HybridParams, choose_settings, configured, fit_kept
from recsys_core.settings import HYBRID_COMPONENTS, Settings, hybrid_params

GROUP = "models"
BASELINES: dict[str, tuple[type[Recommender], str]] = {
    "popularity": (Popularity, "Rating count (optionally in a recent window): the baseline and "
                   "the hybrid's fallback."),
    "biased_mf": (SVD, "Biased matrix factorisation (Surprise's SVD): rating predictions."),
    "rating_blend": (RatingBlend, "Stacked rating predictor over SVD and KNN rating models."),
}  # fmt: skip
"""The models evaluated beside the hybrid, by algorithm name (= their settings section)."""


def make(name: str, settings: Settings) -> Recommender:
    """An unfitted model of the section ``models.<name>`` of the settings."""
    cls = BASELINES[name][0] if name in BASELINES else HYBRID_COMPONENTS[name]
    return cls(**as_dict(getattr(settings.models, name)))


def fitted_model(name: str, suffix: str, ratings_asset: str, text: str) -> dg.AssetsDefinition:
    """An asset holding the baseline ``name`` fitted on the ratings of ``ratings_asset``."""

    @dg.asset(
        name=f"{name}_{suffix}",
        ins={"ratings": dg.AssetIn(ratings_asset)},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="2",
        description=f"{BASELINES[name][1]} {text}",
    )
    def _fit(settings: RecsysSettings, ratings: pl.DataFrame) -> dg.Output:
        model = make(name, settings.effective).fit(ratings)
        return output(model, users=model.data.n_users, items=model.data.n_items,
                      params=as_dict(model.params))  # fmt: skip

    return _fit


POPULARITY = fitted_model("popularity", "model", "ratings", "Fitted on all validated ratings.")


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="4",
    description="The night's choice, on a validation split carved from the training split "
    "(never the test split): each candidate component's key hyperparameters (a small grid, "
    "warm-started from last night's choice, within hybrid.budget_seconds), then the blend "
    "weights and cold-start settings; a component is kept only if it helps on validation.",
)
def hybrid_tuning(
    context: dg.AssetExecutionContext, settings: RecsysSettings, train_ratings: pl.DataFrame
) -> dg.Output:
    s = settings.effective
    params = HybridParams(**hybrid_params(s))
    if not params.tune:
        return output(configured(params), tuned=False)
    chosen, trials = choose_settings(params, train_ratings, k=s.evaluation.k,
                                     threshold=s.evaluation.threshold,
                                     warm_start=last_choice(context))  # fmt: skip
    blend = trials.filter(pl.col("component").is_null())
    return output(chosen, chosen=chosen, trials=trials.height,
                  validation_ndcg=float(blend["ndcg"].max()))  # fmt: skip


def last_choice(context: dg.AssetExecutionContext) -> dict | None:
    """Last night's choice (the previous materialization's metadata), to warm-start from."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    chosen = event and event.asset_materialization.metadata.get("chosen")
    return None if chosen is None else chosen.value


def hybrid_asset(name: str, ratings_asset: str, fallback: str, text: str) -> dg.AssetsDefinition:
    """The hybrid with the night's choice, fitted on ``ratings_asset``."""

    @dg.asset(
        name=name,
        ins={"ratings": dg.AssetIn(ratings_asset), "fallback": dg.AssetIn(fallback)},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="1",
        description="The published model: the components hybrid_tuning kept, fitted with the "
        f"parameters it chose, blended with its weights, popularity as the fallback. {text}",
    )
    def _fit(
        settings: RecsysSettings, hybrid_tuning: dict, ratings: pl.DataFrame, fallback: Recommender
    ) -> dg.Output:
        params = HybridParams(**hybrid_params(settings.effective))
        fitted = fit_kept(params, hybrid_tuning, ratings)
        hybrid = Hybrid.assemble(
            fitted, fallback, hybrid_tuning, **hybrid_params(settings.effective)
        )
        return output(hybrid, components=sorted(fitted), weights=hybrid_tuning["weights"])

    return _fit


HYBRID_MODEL = hybrid_asset(
    "hybrid_model", "ratings", "popularity_model", "Fitted on all validated ratings."
)
