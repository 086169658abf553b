"""Neighbourhood models (Surprise's KNN family): similarities, predictors, ranking scores."""

from recsys_core.models.knn.options import KNNParams, SimOptions
from recsys_core.models.knn.predictors import KNNBase, KNNBaseline, KNNBasic, KNNWithMeans
from recsys_core.models.knn.similarities import similarity_matrix

__all__ = [
    "KNNBase",
    "KNNBaseline",
    "KNNBasic",
    "KNNParams",
    "KNNWithMeans",
    "SimOptions",
    "similarity_matrix",
]
