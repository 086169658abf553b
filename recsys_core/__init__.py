"""recsys_core: the pure recommender library behind the pipeline (no orchestrator imports).

Every model class is registered here, explicitly, so that importing the package is enough for
:meth:`Recommender.load` (and a composite model's component specs) to find any of them.
"""

from recsys_core.errors import ConfigError, DataError, DataWarning, NotFittedError, RecsysError
from recsys_core.models.base import Recommender
from recsys_core.models.baseline import BaselineOnly
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.models.knn import KNNBaseline, KNNBasic, KNNWithMeans
from recsys_core.models.mf import SVD, PureSVD
from recsys_core.models.popularity import Popularity
from recsys_core.models.rating_blend import RatingBlend
from recsys_core.models.registry import register
from recsys_core.ranking.hybrid import Hybrid

for _model in (
    Popularity,
    BaselineOnly,
    KNNBasic,
    KNNWithMeans,
    KNNBaseline,
    SVD,
    PureSVD,
    RatingBlend,
    EASE,
    IALS,
    Hybrid,
):
    register(_model)
del _model

__all__ = [
    "EASE",
    "IALS",
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
    "RatingBlend",
    "Recommender",
    "RecsysError",
]
