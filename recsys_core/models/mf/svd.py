"""SVD: biased matrix factorisation with Surprise's parameters, solved by ALS or SGD."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from recsys_core.data.ids import RatingData
from recsys_core.models.base import Recommender
from recsys_core.models.mf.als import fit_als
from recsys_core.models.mf.factors import BiasedFactors, Terms
from recsys_core.models.mf.sgd import fit_sgd
from recsys_core.params import Params

TERMS = ("bu", "bi", "pu", "qi")


def _rate(term: str) -> Any:
    return Field(None, gt=0, description=f"SGD learning rate of ``{term}``; None: ``lr_all``.")


def _reg(term: str) -> Any:
    return Field(None, ge=0, description=f"Regularisation of ``{term}``; None: ``reg_all``.")


class SVDParams(Params):
    """Hyperparameters of :class:`SVD` (Surprise's names and meanings; the defaults are
    explained in :class:`SVD`'s docstring)."""

    solver: Literal["als", "sgd"] = "als"
    """``"als"`` (alternating exact ridge solves, the default) or ``"sgd"`` (Surprise's
    stochastic gradient descent, compiled by numba). Both minimise the same objective (see
    :class:`SVD`); SGD is the one for Surprise's sizes (100 factors: ALS costs factors^2 per
    rating)."""
    n_factors: int = Field(40, ge=1)
    """Number of factors ``k``, the length of ``p_u`` and ``q_i`` (40: see :class:`SVD`)."""
    n_epochs: int = Field(8, ge=1)
    """Passes over the ratings (SGD), or user-then-item solve rounds (ALS; 8: 12 gain nothing
    in cross-validation)."""
    biased: bool = True
    """Learn ``mu + b_u + b_i`` as well; if False, ``r_hat_ui = q_i^T p_u``."""
    init_mean: float = 0.0
    """Mean of the normal draws ``N(init_mean, init_std_dev^2)`` that start the factors."""
    init_std_dev: float = Field(0.1, ge=0)
    """Standard deviation of those draws (Surprise's 0.1: small, so no factor dominates)."""
    lr_all: float = Field(0.005, gt=0)
    """SGD learning rate ``gamma`` of every term (Surprise's default; unused by ALS)."""
    reg_all: float = Field(0.11, ge=0)
    """Regularisation ``lambda`` of every term, paid per rating (0.11: a cross-validated
    compromise, see :class:`SVD`)."""
    lr_bu: float | None = _rate("b_u")
    lr_bi: float | None = _rate("b_i")
    lr_pu: float | None = _rate("p_u")
    lr_qi: float | None = _rate("q_i")
    reg_bu: float | None = _reg("b_u")
    reg_bi: float | None = _reg("b_i")
    reg_pu: float | None = _reg("p_u")
    reg_qi: float | None = _reg("q_i")
    random_state: int = Field(0, ge=0)
    """Seed of ``np.random.default_rng`` for the initial factors."""

    def terms(self) -> Terms:
        """Per-term rates and regularisation, ``lr_all``/``reg_all`` where not overridden."""

        def pick(name: str, default: float) -> float:
            value = getattr(self, name)
            return float(default if value is None else value)

        return Terms(
            **{f"lr_{t}": pick(f"lr_{t}", self.lr_all) for t in TERMS},
            **{f"reg_{t}": pick(f"reg_{t}", self.reg_all) for t in TERMS},
        )


class SVD(Recommender):
    r"""Biased matrix factorisation (Funk's *SVD*, Koren et al. 2009, eq. 5), Surprise-compatible.

    The estimate for a known user ``u`` and item ``i`` is

        r_hat_ui = mu + b_u + b_i + q_i^T p_u

    (``q_i^T p_u`` alone when ``biased=False``). An unknown user has ``b_u = 0`` and no ``p_u``,
    so it gets ``mu + b_i``; an unknown item ``mu + b_u``; both unknown ``mu``. Estimates are
    clipped to the training rating scale; ``recommend`` ranks by the unclipped estimate.
    Both solvers minimise the regularised squared error, regularisation paid per rating:

        sum_{r_ui in R} (r_ui - r_hat_ui)^2 + lambda (b_u^2 + b_i^2 + ||p_u||^2 + ||q_i||^2)

    - ``solver="sgd"`` follows Surprise's update rules exactly (see
      :mod:`recsys_core.models.mf.sgd`); ``SVD(solver="sgd", n_factors=100, n_epochs=20,
      lr_all=0.005, reg_all=0.02)`` is Surprise's default ``SVD``.
    - ``solver="als"`` alternates exact ridge solves for all users, then all items, in batches
      (see :mod:`recsys_core.models.mf.als`); it ignores the learning rates.

    Defaults (``solver="als", n_factors=40, n_epochs=8, reg_all=0.11``) were chosen by 5-fold
    cross-validation on training data only (``benchmarks/rating_cv.py``; numbers in
    ``docs/benchmarks.md``, "models/rating_blend"), by mean RMSE over the train part of the
    held-out protocol's ML-100k split and a synthetic set of ML-1M's density. The two pull
    ``reg_all`` apart (ML-100k is best at 0.14 of 0.08-0.16, the synthetic set at 0.08), so the
    default is a compromise: within 0.001 of the best mean (50 factors, 0.10) at two thirds of
    its cost; 5 epochs lose 0.0012, 12 gain nothing. The tuning job (k-fold CV on the night's
    training split, :mod:`recsys_core.settings` ``tuning``) can re-choose ``n_factors`` and
    ``reg_all`` for a data set. SGD with tuned values is as accurate as ALS and faster, but a
    fresh process pays numba's start-up (0.3-0.4 s of CPU) on its first SGD fit, a new machine
    a one-off compile (~1 s), and the tuning grid is ALS's: ALS stays the default.
    Rating-prediction MF ranks poorly over all unrated items (NDCG@10 0.025 on ML-100k: high
    estimates for rarely rated items); use :class:`PureSVD` for top-N.
    """

    Params = SVDParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        p = self.params
        solve = fit_als if p.solver == "als" else fit_sgd
        self.factors_ = solve(
            data.user_items,
            n_factors=p.n_factors,
            n_epochs=p.n_epochs,
            biased=p.biased,
            terms=p.terms(),
            init_mean=p.init_mean,
            init_std_dev=p.init_std_dev,
            rng=np.random.default_rng(p.random_state),
        )

    # Surprise's names for the learned arrays
    @property
    def bu(self) -> np.ndarray:
        return self.factors_.bu

    @property
    def bi(self) -> np.ndarray:
        return self.factors_.bi

    @property
    def pu(self) -> np.ndarray:
        return self.factors_.pu

    @property
    def qi(self) -> np.ndarray:
        return self.factors_.qi

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Unclipped ``r_hat`` of every item for a block of users (one matrix product)."""
        return self.factors_.score_block(users)

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        lo, hi = self.data.rating_scale
        return np.clip(self.factors_.estimate(users, items), lo, hi)

    def _state(self) -> dict[str, np.ndarray]:
        return self.factors_.to_arrays()

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.factors_ = BiasedFactors.from_arrays(arrays)
