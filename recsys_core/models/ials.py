"""iALS: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) through ``implicit``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import Field
from threadpoolctl import threadpool_limits

from recsys_core.data.ids import RatingData
from recsys_core.errors import DataError
from recsys_core.models.base import Recommender
from recsys_core.models.mf.factors import rows_times
from recsys_core.models.signal import signal_matrix
from recsys_core.params import Params, as_dict

__all__ = ["IALS", "IALSParams"]

WARM_SHARE = 3
"""A warm-started candidate (:meth:`IALS.fitter`) runs ``n_epochs // WARM_SHARE`` sweeps."""


class IALSParams(Params):
    """Hyperparameters of :class:`IALS` (names as in Surprise; ``implicit``'s in brackets)."""

    n_factors: int = Field(default=32, ge=1)
    """Latent dimension ``f`` [``factors``]. 32, fixed: chosen by cross-validating the whole
    night (selection, blend, published top-10) on training data only -- ML-100k's protocol
    train part and synthetic ML-1M-like and ml-latest-small-like sets
    (``benchmarks/defaults_cv.py``): it had the best mean over the sets of NDCG@10 relative to
    each set's best (64 and 128 lower on average, though 128 was slightly ahead on the sparse
    set), and climbing 32/64/128 nightly tied with it at a higher cost. A fit costs half of
    64's. Numbers: ``docs/benchmarks.md``, "iALS factors and sweeps"."""

    reg: float = Field(default=50.0, ge=0)
    """``lambda`` on ``||x_u||^2`` and ``||y_i||^2``, once per user/item, not per rating
    [``regularization``]. Chosen per night on validation; the default is the centre of the
    nightly grid, ``30 * alpha / 6`` (the ML-100k optimum at ``alpha`` 6, validation table in
    :class:`IALS`, scaled with ``alpha``)."""

    alpha: float = Field(default=10.0, gt=0)
    """Confidence scale: ``c_ui = alpha * w_ui`` on rated pairs [``alpha``]. With the
    ``graded`` signal a disliked item (``w = 0.25``) gets 2.5, a liked one 10, an unrated one 1.
    10 rather than 6 by cross-validating the nightly blend on training data (``reg``'s grid
    scaled with it): higher on all three sets (ML-100k's train part, a dense and a sparse
    synthetic set), where 3, 16 and 25 were lower (``docs/benchmarks.md``, "iALS's
    confidence")."""

    n_epochs: int = Field(default=15, ge=1)
    """Alternating sweeps (users, then items) [``iterations``], as ``implicit``'s default. 15
    rather than 10, by the same cross-validation as ``n_factors``: 15 scored higher at every
    factor count, most on the sparse set, for 1.5x the cost of a fit (``docs/benchmarks.md``,
    "iALS factors and sweeps")."""

    random_state: int = Field(default=0, ge=0)
    """Seed of the initial factors (``uniform(0, 0.01)``) [``random_state``]."""

    n_threads: int = Field(default=0, ge=0)
    """Solver threads, 0 = all cores [``num_threads``]. Speed only: the results do not depend
    on it (each user's/item's system is solved by one thread; tested)."""

    use_cg: bool = True
    """Conjugate gradient (3 steps per sweep) instead of an exact Cholesky solve [``use_cg``]."""

    signal: Literal["graded", "binary", "confidence"] = "graded"
    """How ratings become ``w_ui`` (:mod:`recsys_core.models.signal`)."""

    low_weight: float = Field(default=0.25, ge=0, le=1)
    """``graded``: ``w_ui`` of a rating below ``threshold`` (1 at or above it)."""

    threshold: float = 4.0
    """``graded``: ratings at or above it are relevant."""


class IALS(Recommender):
    r"""Implicit ALS (Hu, Koren & Volinsky 2008) fitted by ``implicit.cpu.als``.

    With ``w_ui`` the signal of a rated pair (:mod:`recsys_core.models.signal`), preference
    ``p_ui = 1`` on rated pairs and 0 elsewhere, and ``implicit``'s confidence convention
    ``c_ui = alpha * w_ui`` on rated pairs and ``c_ui = 1`` elsewhere, the factors minimise

        sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg (sum_u ||x_u||^2 + sum_i ||y_i||^2).

    (The paper writes ``c_ui = 1 + alpha r_ui``; ``implicit`` takes the stored value as the
    whole confidence.) The score of a user block is ``x_users Y^T``, one float32 product.
    ``predict`` is NaN (ranking scores, not ratings); unknown users get no recommendations.
    :meth:`fold_in` computes factors of new rating rows against the fixed item factors
    (``implicit``'s ``recalculate_user``: an exact least-squares solve), which is also how
    :meth:`for_users` serves users who rated since the fit. BLAS is held to one thread while
    fitting (as ``implicit`` asks); the solver's own threads are ``n_threads``.

    Validation NDCG@10 that chose ``alpha``, ``reg`` and the signal (ML-100k: the seeded 80% of
    :class:`EASE`'s table, split again 80/20 by ``random_split(seed=0)``, relevant = rating >= 4;
    64 factors and 15 sweeps unless stated; ``n_factors`` and ``n_epochs`` were chosen by
    cross-validating the nightly blend, see their docstrings):

        alpha | reg      10     15     30     60    100
        1             0.243      -  0.128      -  0.128
        3             0.215  0.235  0.250  0.189  0.128
        6                 -  0.216  0.252  0.236      -
        10            0.203      -  0.235      -  0.224
        alpha 6, reg 30: 32 / 64 / 128 factors 0.252 / 0.252 / 0.253

        binary 0.228; graded low_weight 0.1 / 0.25 / 0.5 / 1.0: 0.251 / 0.252 / 0.242 / 0.228

    Too much ``reg`` for the confidence collapses the factors toward popularity (0.128), so
    ``reg`` and ``alpha`` move together; the per-night grid tunes ``reg`` at ``alpha = 10``
    (chosen later, by cross-validating the whole night: ``alpha``'s docstring).
    """

    Params = IALSParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        self._solve(self._signal(data.user_items))

    def fit_from(self, data: RatingData, ratings: pl.DataFrame, earlier: Recommender) -> Self:
        """:meth:`fit_on` warm-started from ``earlier``: an IALS with the same parameters fitted
        on other ratings of mostly the same users and items (the published model starts from
        the evaluated model's fit on the training split). A user or item it knows starts from
        its factors, a new one from ``implicit``'s random start (``uniform(0, 0.01)``, seeded),
        and ``max(1, n_epochs // WARM_SHARE)`` sweeps run instead of ``n_epochs``. Another
        class or other parameters: a plain :meth:`fit_on`."""
        if not isinstance(earlier, IALS) or earlier.params != self.params:
            return self.fit_on(data, ratings)
        rng = np.random.default_rng(self.params.random_state)
        start = []
        for ids, old, factors in (
            (data.users, earlier.data.users, earlier.user_factors_),
            (data.items, earlier.data.items, earlier.item_factors_),
        ):
            at = old.index_of(ids.ids)
            init = rng.random((len(ids), self.params.n_factors), dtype=np.float32) * 0.01
            init[at >= 0] = factors[at[at >= 0]]
            start.append(init)
        self._data = None
        sweeps = max(1, self.params.n_epochs // WARM_SHARE)
        self._solve(self._signal(data.user_items), (start[0], start[1]), sweeps)
        self._data = data
        return self

    def _solve(
        self,
        weights: sp.csr_matrix,
        start: tuple[np.ndarray, np.ndarray] | None = None,
        sweeps: int = 0,
    ) -> None:
        """Fit the factors on ``weights``: from random factors (``n_epochs`` sweeps), or from
        the ``start`` user and item factors (``sweeps`` sweeps, a warm start)."""
        model = self._implicit()
        if start is not None:
            model.user_factors = np.array(start[0], dtype=np.float32)
            model.item_factors = np.array(start[1], dtype=np.float32)
            model.iterations = sweeps
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(weights, show_progress=False)
        users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
        if not (np.isfinite(users).all() and np.isfinite(items).all()):
            raise DataError("IALS diverged: non-finite factors (raise reg)")
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)
        self._scoring = None

    @classmethod
    def fitter(cls, data: RatingData, ratings: pl.DataFrame) -> Callable[[Mapping[str, Any]], IALS]:
        """Fits on ``data`` along a regularisation path: a candidate that differs from earlier
        ones only in ``reg`` (or ``n_epochs``) starts from the factors of the one nearest in
        ``log(1 + reg)`` (ties: the latest) and runs ``max(1, n_epochs // WARM_SHARE)`` sweeps
        instead of ``n_epochs`` from random factors; the first of each shape is a full fit.
        For a selection's candidates: their validation NDCG tracks full fits' (measured in
        ``docs/benchmarks.md``, "iALS warm starts") at a third of the cost."""
        fitted: dict[str, list[IALS]] = {}
        weights: dict[tuple, sp.csr_matrix] = {}

        def fit(params: Mapping[str, Any]) -> IALS:
            model = cls(**params)
            shape = as_dict(model.params) | {"reg": None, "n_epochs": None}
            key, signal = json.dumps(shape, sort_keys=True), model._signal_key()
            if signal not in weights:
                weights.clear()
                weights[signal] = model._signal(data.user_items)
            near = fitted.setdefault(key, [])
            reg = np.log1p(model.params.reg)
            start = min(
                reversed(near), key=lambda m: abs(np.log1p(m.params.reg) - reg), default=None
            )
            factors = None if start is None else (start.user_factors_, start.item_factors_)
            model._solve(weights[signal], factors, max(1, model.params.n_epochs // WARM_SHARE))
            model._data = data
            near.append(model)
            return model

        return fit

    def _signal_key(self) -> tuple:
        p = self.params
        return (p.signal, p.threshold, p.low_weight)

    def _signal(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        p = self.params
        return signal_matrix(user_items, p.signal, threshold=p.threshold, low=p.low_weight)

    def _implicit(self) -> AlternatingLeastSquares:
        """An ``implicit`` model with these hyperparameters (float32 factors)."""
        p = self.params
        with threadpool_limits(limits=1, user_api="blas"):  # silences implicit's BLAS warning
            return AlternatingLeastSquares(
                factors=p.n_factors,
                regularization=p.reg,
                alpha=p.alpha,
                dtype=np.float32,
                use_cg=p.use_cg,
                iterations=p.n_epochs,
                num_threads=p.n_threads,
                random_state=p.random_state,
            )

    def as_implicit(self) -> AlternatingLeastSquares:
        """The fitted factors inside an ``implicit`` model (for its own ``recommend`` etc.)."""
        model = self._implicit()
        model.user_factors = self.user_factors_.copy()
        model.item_factors = self.item_factors_.copy()
        return model

    def fold_in(self, user_items_rows: sp.csr_matrix) -> np.ndarray:
        """Factors (rows x f, float32) of users whose ratings are the rows of ``user_items_rows``
        (columns = this model's item indices), solved against the fixed item factors."""
        rows = sp.csr_matrix(user_items_rows)
        if rows.shape[1] != self.data.n_items:
            raise DataError(f"fold_in needs {self.data.n_items} item columns, got {rows.shape[1]}")
        weights = self._signal(rows)
        with threadpool_limits(limits=1, user_api="blas"):
            out = self.as_implicit().recalculate_user(np.arange(rows.shape[0]), weights)
        return np.asarray(out, dtype=np.float32).reshape(rows.shape[0], -1)

    def _fold_in(self, fitted: RatingData) -> None:
        """The users' factors solved against the fixed item factors (:meth:`fold_in`)."""
        self.user_factors_ = self.fold_in(self.data.user_items)
        self._scoring = None

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """``p_u . q_i`` in float64: float32 BLAS rounds a row differently by how many rows
        share its block, which would make a user's list depend on the top-N buckets."""
        if getattr(self, "_scoring", None) is None:
            self._scoring = (
                self.user_factors_.astype(np.float64),
                np.ascontiguousarray(self.item_factors_.T, dtype=np.float64),
            )
        left, right = self._scoring
        return rows_times(left, users, right)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._scoring = None
