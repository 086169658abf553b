"""recsys_core: the pure recommender library behind the pipeline (no orchestrator imports)."""

from recsys_core.errors import ConfigError, DataError, DataWarning, NotFittedError, RecsysError
from recsys_core.models.base import Recommender
from recsys_core.models.popularity import Popularity

__all__ = [
    "ConfigError",
    "DataError",
    "DataWarning",
    "NotFittedError",
    "Popularity",
    "Recommender",
    "RecsysError",
]
