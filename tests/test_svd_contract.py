"""SVD (both solvers) and PureSVD pass the shared model contract."""

from recsys_core import SVD, PureSVD
from tests.contract import ModelContract


class TestSVDAlsContract(ModelContract):
    folds_in = "no"

    @staticmethod
    def make(**overrides):
        return SVD(**{"n_factors": 5, "n_epochs": 4, **overrides})


class TestSVDSgdContract(ModelContract):
    folds_in = "no"

    @staticmethod
    def make(**overrides):
        return SVD(**{"solver": "sgd", "n_factors": 5, "n_epochs": 4, **overrides})


class TestPureSVDContract(ModelContract):
    predicts_ratings = False  # scores reconstruct a zero-filled matrix: predict() is all NaN

    @staticmethod
    def make(**overrides):
        return PureSVD(**{"n_factors": 5, **overrides})
