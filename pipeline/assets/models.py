"""Models layer: the production models (fitted on all validated ratings) that rank the
published lists, and the hybrid's blend settings chosen on a validation split of train."""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import SVD, KNNWithMeans, Popularity, PureSVD, Recommender
from recsys_core.models.rating_blend import RatingBlend
from recsys_core.params import as_dict
from recsys_core.ranking.hybrid import HybridParams, choose_settings, configured
from recsys_core.settings import HYBRID_COMPONENTS, Settings, hybrid_params

GROUP = "models"
MODELS: dict[str, tuple[type[Recommender], str]] = {
    "popularity": (
        Popularity,
        "Rating count (optionally in a recent window): the baseline and the cold-start fallback.",
    ),
    "item_knn": (
        KNNWithMeans,
        "Item-based KNNWithMeans (Surprise's parameters): ranking "
        "scores and the lists' explanations.",
    ),
    "pure_svd": (PureSVD, "PureSVD, a truncated SVD of the rating matrix: a ranking scorer."),
    "biased_mf": (SVD, "Biased matrix factorisation (Surprise's SVD): rating predictions."),
    "rating_blend": (RatingBlend, "Stacked rating predictor over SVD and KNN rating models."),
}
"""Every model by algorithm name (= its settings section): class and what it is for."""
HYBRID_PARTS = tuple(HYBRID_COMPONENTS)
"""The published hybrid's components (popularity is also its fallback)."""


def make(name: str, settings: Settings) -> Recommender:
    """An unfitted model of the section ``models.<name>`` of the settings."""
    cls = MODELS[name][0]
    return cls(**as_dict(getattr(settings.models, name)))


def fitted_model(name: str, suffix: str, ratings_asset: str, text: str) -> dg.AssetsDefinition:
    """An asset holding the model ``name`` fitted on the ratings of ``ratings_asset``."""

    @dg.asset(
        name=f"{name}_{suffix}",
        ins={"ratings": dg.AssetIn(ratings_asset)},
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="2",
        description=f"{MODELS[name][1]} {text}",
    )
    def _fit(settings: RecsysSettings, ratings: pl.DataFrame) -> dg.Output:
        model = make(name, settings.effective).fit(ratings)
        return output(
            model, users=model.data.n_users, items=model.data.n_items, params=as_dict(model.params)
        )

    return _fit


PRODUCTION_MODELS = [
    fitted_model(name, "model", "ratings", "Fitted on all validated ratings; ranks the lists.")
    for name in HYBRID_PARTS
]


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars"},
    code_version="3",
    description="The hybrid's blend weights and cold-start settings, chosen by NDCG@k on a "
    "validation split carved from the training split (never the test split); used by the "
    "evaluated hybrid and the published one alike. The trials are in the metadata.",
)
def hybrid_tuning(settings: RecsysSettings, train_ratings: pl.DataFrame) -> dg.Output:
    s = settings.effective
    params = HybridParams(**hybrid_params(s))
    if not params.tune:
        return output(configured(params), tuned=False)
    ev = s.evaluation
    chosen, trials = choose_settings(params, train_ratings, k=ev.k, threshold=ev.threshold)
    return output(chosen, trials=trials.height, best_ndcg=float(trials["ndcg"].max()))
