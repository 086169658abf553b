"""recsys_core: the pure recommender library behind the pipeline (no orchestrator imports)."""

from recsys_core.errors import ConfigError, DataError, DataWarning, NotFittedError, RecsysError
from recsys_core.hybrid.model import Hybrid
from recsys_core.models.base import Recommender
from recsys_core.models.baseline import BaselineOnly
from recsys_core.models.knn import KNNBaseline, KNNBasic, KNNWithMeans
from recsys_core.models.mf import SVD, PureSVD
from recsys_core.models.popularity import Popularity

__all__ = [
    "SVD",
    "BaselineOnly",
    "ConfigError",
    "DataError",
    "DataWarning",
    "Hybrid",
    "KNNBaseline",
    "KNNBasic",
    "KNNWithMeans",
    "NotFittedError",
    "Popularity",
    "PureSVD",
    "Recommender",
    "RecsysError",
]
