"""Matrix-factorisation models: :class:`SVD` (ratings) and :class:`PureSVD` (ranking)."""

from recsys_core.models.mf.pure_svd import PureSVD
from recsys_core.models.mf.svd import SVD

__all__ = ["SVD", "PureSVD"]
