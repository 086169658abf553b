"""Models layer: the production models, fitted on all validated ratings, and the hybrid's
tuned settings."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
from recsys_core.hybrid.tuning import tune

from pipeline.assets.ingest import OWNERS
from pipeline.config import RecsysSettings, run_settings
from pipeline.metadata import data_version, table_metadata
from pipeline.resources import DataRoot
from recsys_core import Hybrid, KNNWithMeans, Popularity, PureSVD, Recommender
from recsys_core.models.mf import SVD
from recsys_core.params import as_dict
from recsys_core.publish.files import write_json_atomic, write_parquet_atomic
from recsys_core.settings import Settings, hybrid_params

GROUP = "models"
MODELS: dict[str, tuple[type[Recommender], str]] = {
    "popularity": (Popularity, "Rating count (optionally in a recent window): the baseline and "
                   "the cold-start fallback."),
    "item_knn": (KNNWithMeans, "Item-based KNNWithMeans (Surprise's parameters); its ranking "
                 "scores and explanations feed the hybrid."),
    "svd": (SVD, "Biased matrix factorisation (Surprise's SVD parameters) for rating predictions."),
    "pure_svd": (PureSVD, "Truncated SVD of the rating matrix: the hybrid's factor-model scorer."),
}  # fmt: skip


HYBRID_PARTS = {"item_knn": "item_knn", "svd": "pure_svd", "popularity": "popularity"}
"""The hybrid's components -> the fitted model each one is (popularity is also the fallback)."""
HYBRID_FILE = "hybrid.json"


def model_path(data_root: DataRoot, name: str) -> Path:
    return data_root.model(f"{name}.npz")


def load_hybrid(data_root: DataRoot, settings: Settings, folder: str = "") -> Hybrid:
    """The hybrid assembled from fitted models under ``models/<folder>`` and the settings
    ``hybrid_tuning`` chose (models/hybrid.json); nothing is refitted."""
    prefix = f"{folder}/" if folder else ""
    fitted = {
        part: Recommender.load(model_path(data_root, prefix + name))
        for part, name in HYBRID_PARTS.items()
    }
    chosen = json.loads(data_root.model(HYBRID_FILE).read_text())
    return Hybrid.assemble(fitted, fitted["popularity"], chosen, **hybrid_params(settings))


def _model_asset(name: str, cls: type[Recommender], text: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{name}_model",
        deps=["ratings"],
        group_name=GROUP,
        owners=OWNERS,
        kinds={"numpy"},
        code_version="1",
        description=f"{text} Fitted on all validated ratings; saved as models/{name}.npz.",
    )
    def _fit(settings: RecsysSettings, data_root: DataRoot) -> dg.MaterializeResult:
        params = as_dict(getattr(run_settings(settings, data_root).models, name))
        model = cls(**params).fit(pl.read_parquet(data_root.warehouse("ratings.parquet")))
        out = model.save(model_path(data_root, name))
        return dg.MaterializeResult(
            metadata={
                "users": model.data.n_users,
                "items": model.data.n_items,
                "params": dg.MetadataValue.json(params),
                "dagster/uri": str(out),
            },
            data_version=data_version(out),
        )

    return _fit


MODEL_ASSETS = [_model_asset(name, cls, text) for name, (cls, text) in MODELS.items()]


@dg.asset(
    deps=["train_ratings"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="2",
    description="The hybrid's blend weights and cold-start settings, chosen by NDCG@10 on a "
    "validation split of the training split (trials in warehouse/hybrid_tuning.parquet); "
    "used by the evaluated hybrid and the published one alike.",
)
def hybrid_tuning(settings: RecsysSettings, data_root: DataRoot) -> dg.MaterializeResult:
    params = hybrid_params(run_settings(settings, data_root))
    ratings = pl.read_parquet(data_root.warehouse("train_ratings.parquet"))
    hybrid = Hybrid(**params)
    first = {
        "weights": {c: float(hybrid.params.weights.get(c, 1.0)) for c in hybrid.params.components},
        "cold_user_ratings": hybrid.params.cold_user_ratings,
        "cold_item_slots": hybrid.params.cold_item_slots,
    }
    chosen, trials = tune(hybrid, ratings, first) if hybrid.params.tune else (first, pl.DataFrame())
    out = write_json_atomic(chosen, data_root.model(HYBRID_FILE))
    table = write_parquet_atomic(trials, data_root.warehouse("hybrid_tuning.parquet"))
    return dg.MaterializeResult(
        metadata={
            **table_metadata(trials, table),
            "chosen": dg.MetadataValue.json(chosen),
        },
        data_version=data_version(out),
    )
