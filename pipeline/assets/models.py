"""Models layer: the night's choice of components, hyperparameters and blend weights (made once,
on a validation split carved from the training split), the published hybrid fitted with it on
all ratings, and the baselines the evaluation compares with."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import SVD, Hybrid, Popularity, Recommender
from recsys_core.evaluation.sample import sample_users
from recsys_core.models.rating_blend import RatingBlend
from recsys_core.params import as_dict
from recsys_core.ranking.choice import HybridParams, choose, configured, fit_kept
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


RATING_MODELS = ("biased_mf", "rating_blend")
"""The baselines evaluated on a user sample (``evaluation.rating_sample``): RMSE/MAE only."""


def fitted_model(name: str, suffix: str, ratings_asset: str, text: str) -> dg.AssetsDefinition:
    """An asset holding the baseline ``name`` fitted on the ratings of ``ratings_asset`` (a
    rating model of the evaluation: on their user sample, :func:`evaluated_ratings`; a
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
        if suffix == "train_model":
            ratings = evaluated_ratings(name, ratings, settings.effective)
        model = make(name, settings.effective).fit(ratings)
        return output(model, users=model.data.n_users, items=model.data.n_items,
                      ratings=ratings.height, params=as_dict(model.params))  # fmt: skip

    return _fit


def evaluated_ratings(name: str, train: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The training ratings the evaluation fits ``name`` on: a user sample for the rating
    models (``evaluation.rating_sample``), all of them for the others."""
    if name not in RATING_MODELS:
        return train
    return sample_users(train, settings.evaluation.rating_sample, settings.split.random_state)


POPULARITY = fitted_model("popularity", "model", "ratings", "Fitted on all validated ratings.")


@dg.multi_asset(
    outs={
        "hybrid_tuning": dg.AssetOut(
            owners=OWNERS,
            kinds={"polars"},
            code_version="7",
            description="The night's choice, made once on a validation split carved from "
            "train_ratings (never the test split): each candidate component's key "
            "hyperparameters (a short climb from last night's choice, within "
            "hybrid.budget_seconds), then the blend weights and cold-start settings; a component "
            "is kept only if it helps on validation. Both hybrids use it: the evaluated one "
            "fitted on train_ratings, the published one on all ratings.",
        ),
        "tuned_hybrid": dg.AssetOut(
            owners=OWNERS,
            kinds={"numpy"},
            code_version="1",
            description="The kept components as the choice fitted them, on the validation "
            "split's training part (popularity as the fallback): the evaluated hybrid's iALS "
            "starts from their factors. With hybrid.tune off, a 'skipped' record.",
        ),
    },
    ins={"ratings": dg.AssetIn("train_ratings")},
    group_name=GROUP,
)
def hybrid_tuning(
    context: dg.AssetExecutionContext, settings: RecsysSettings, ratings: pl.DataFrame
) -> Iterator[dg.Output]:
    s = settings.effective
    spec = hybrid_params(s)
    params = HybridParams(**spec)
    if not params.tune:
        yield output(configured(params), "hybrid_tuning", tuned=False)
        yield output({"skipped": "hybrid.tune is off"}, "tuned_hybrid")
        return
    ev = s.evaluation
    made = choose(params, ratings, k=ev.k, threshold=ev.threshold, warm_start=last_choice(context))
    blend = made.trials.filter(pl.col("component").is_null())
    yield output(made.chosen, "hybrid_tuning", chosen=made.chosen, trials=made.trials.height,
                 validation_ndcg=float(blend["ndcg"].max()))  # fmt: skip
    tuned = Hybrid.assemble(made.components, made.fallback, made.chosen, **spec)
    yield output(tuned, "tuned_hybrid", components=sorted(made.components))


def last_choice(context: dg.AssetExecutionContext) -> dict | None:
    """Last night's choice (the previous materialization's metadata), to warm-start from."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("hybrid_tuning"))
    chosen = event and event.asset_materialization.metadata.get("chosen")
    return None if chosen is None else chosen.value


def hybrid_asset(
    name: str, ratings_asset: str, fallback: str, tuning: str, text: str, start: str | None = None
) -> dg.AssetsDefinition:
    """The hybrid with the choice of ``tuning``, fitted on ``ratings_asset`` (warm-started from
    the components of the hybrid ``start`` where a model can: iALS; ``start`` may hold a
    'skipped' record instead, then nothing warm-starts)."""

    @dg.asset(
        name=name,
        ins={
            "ratings": dg.AssetIn(ratings_asset),
            "fallback": dg.AssetIn(fallback),
            "chosen": dg.AssetIn(tuning),
        }
        | ({"start": dg.AssetIn(start)} if start else {}),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="3",
        description=f"The hybrid: the components {tuning} kept, fitted with the parameters it "
        f"chose, blended with its weights, popularity as the fallback. {text}",
    )
    def _fit(
        settings: RecsysSettings,
        chosen: dict,
        ratings: pl.DataFrame,
        fallback: Recommender,
        **earlier: Hybrid | dict,
    ) -> dg.Output:
        spec = hybrid_params(settings.effective)
        warm = getattr(earlier.get("start"), "components_", None)  # a skipped record: none
        fitted = fit_kept(HybridParams(**spec), chosen, ratings, start=warm)
        hybrid = Hybrid.assemble(fitted, fallback, chosen, **spec)
        return output(hybrid, components=sorted(fitted), weights=chosen["weights"])

    return _fit


HYBRID_MODEL = hybrid_asset(
    "hybrid_model", "ratings", "popularity_model", "hybrid_tuning",
    "Fitted on all validated ratings with the choice made on the training split's validation "
    "(chosen once: the evaluated hybrid is the same recipe on less data); iALS starts from the "
    "evaluated hybrid's factors (hybrid_train_model) and runs a third of its sweeps.",
    start="hybrid_train_model",
)  # fmt: skip
