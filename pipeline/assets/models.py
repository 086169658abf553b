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
RATING_MODELS = ("biased_mf", "rating_blend")
"""Baselines that predict ratings: on implicit feedback there are none to predict."""


def skip_reason(name: str, settings: Settings) -> str | None:
    """Why the baseline ``name`` is skipped tonight (None: it is not)."""
    if name in RATING_MODELS and settings.ingest.feedback == "implicit":
        return (f"{name} skipped: it predicts ratings, and implicit feedback (ingest.feedback) "
                "has none; the ranking models are evaluated as usual")  # fmt: skip
    return None


def make(name: str, settings: Settings) -> Recommender:
    """An unfitted model of the section ``models.<name>`` of the settings."""
    cls = BASELINES[name][0] if name in BASELINES else HYBRID_COMPONENTS[name]
    return cls(**as_dict(getattr(settings.models, name)))


def fitted_model(name: str, suffix: str, ratings_asset: str, text: str) -> dg.AssetsDefinition:
    """An asset holding the baseline ``name`` fitted on the ratings of ``ratings_asset`` (a
    rating model on implicit feedback holds ``{"skipped": reason}`` instead, and says so)."""
    skips = " Skipped on implicit feedback (a 'skipped' record)." if name in RATING_MODELS else ""

    @dg.asset(
        name=f"{name}_{suffix}",
        ins={"ratings": dg.AssetIn(ratings_asset)},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="3",
        description=f"{BASELINES[name][1]} {text}{skips}",
    )
    def _fit(
        context: dg.AssetExecutionContext, settings: RecsysSettings, ratings: pl.DataFrame
    ) -> dg.Output:
        if skipped := skip_reason(name, settings.effective):
            context.log.info(skipped)
            return output({"skipped": skipped}, skipped=skipped)
        model = make(name, settings.effective).fit(ratings)
        return output(model, users=model.data.n_users, items=model.data.n_items,
                      params=as_dict(model.params))  # fmt: skip

    return _fit


POPULARITY = fitted_model("popularity", "model", "ratings", "Fitted on all validated ratings.")


def tuning_asset(name: str, ratings_asset: str, warm: str | None, text: str) -> dg.AssetsDefinition:
    """The night's choice, made on a validation split carved from ``ratings_asset``."""

    @dg.asset(
        name=name,
        ins={"ratings": dg.AssetIn(ratings_asset)} | ({warm: dg.AssetIn(warm)} if warm else {}),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"polars"},
        code_version="5",
        description="The night's choice, on a validation split carved from "
        f"{ratings_asset} (never a test split): each candidate component's key hyperparameters "
        "(a small grid, warm-started, within hybrid.budget_seconds), then the blend weights and "
        f"cold-start settings; a component is kept only if it helps on validation. {text}",
    )
    def _choose(
        context: dg.AssetExecutionContext,
        settings: RecsysSettings,
        ratings: pl.DataFrame,
        **earlier: dict,
    ) -> dg.Output:
        s = settings.effective
        params = HybridParams(**hybrid_params(s))
        if not params.tune:
            return output(configured(params), tuned=False)
        start = next(iter(earlier.values()), None) or last_choice(context)
        ev = s.evaluation
        chosen, trials = choose_settings(
            params, ratings, k=ev.k, threshold=ev.threshold, warm_start=start
        )
        blend = trials.filter(pl.col("component").is_null())
        return output(chosen, chosen=chosen, trials=trials.height,
                      validation_ndcg=float(blend["ndcg"].max()))  # fmt: skip

    return _choose


HYBRID_TRAIN_TUNING = tuning_asset(
    "hybrid_train_tuning", "train_ratings", None,
    "For the evaluated hybrid (training split); warm-started from last night's choice.",
)  # fmt: skip
HYBRID_TUNING = tuning_asset(
    "hybrid_tuning", "ratings", "hybrid_train_tuning",
    "For the published hybrid (all ratings); warm-started from tonight's training-split choice.",
)  # fmt: skip


def last_choice(context: dg.AssetExecutionContext) -> dict | None:
    """Last night's choice (the previous materialization's metadata), to warm-start from."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    chosen = event and event.asset_materialization.metadata.get("chosen")
    return None if chosen is None else chosen.value


def hybrid_asset(
    name: str, ratings_asset: str, fallback: str, tuning: str, text: str
) -> dg.AssetsDefinition:
    """The hybrid with the choice of ``tuning``, fitted on ``ratings_asset``."""

    @dg.asset(
        name=name,
        ins={
            "ratings": dg.AssetIn(ratings_asset),
            "fallback": dg.AssetIn(fallback),
            "chosen": dg.AssetIn(tuning),
        },
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="1",
        description=f"The hybrid: the components {tuning} kept, fitted with the parameters it "
        f"chose, blended with its weights, popularity as the fallback. {text}",
    )
    def _fit(
        settings: RecsysSettings, chosen: dict, ratings: pl.DataFrame, fallback: Recommender
    ) -> dg.Output:
        spec = hybrid_params(settings.effective)
        fitted = fit_kept(HybridParams(**spec), chosen, ratings)
        hybrid = Hybrid.assemble(fitted, fallback, chosen, **spec)
        return output(hybrid, components=sorted(fitted), weights=chosen["weights"])

    return _fit


HYBRID_MODEL = hybrid_asset(
    "hybrid_model", "ratings", "popularity_model", "hybrid_tuning",
    "Fitted on all validated ratings.",
)  # fmt: skip
