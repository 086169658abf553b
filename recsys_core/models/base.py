"""The model contract every recommender follows.

A model is a class configured by keyword arguments (validated into its frozen ``Params`` model,
a :class:`recsys_core.params.Params`, on construction, scikit-learn style: ``__init__`` only
stores parameters), with

- ``fit(ratings) -> self``: ``ratings`` is a polars frame ``user_id, item_id, rating[, timestamp]``;
- ``predict(pairs) -> np.ndarray``: estimates for the ``(user_id, item_id)`` rows of ``pairs``, in
  order (NaN where the model cannot score);
- ``recommend(n, users=None) -> pl.DataFrame``: ``user_id, rank, item_id, score``, best first,
  items the user rated in training excluded, at most ``n`` rows per user;
- ``save(path)`` / ``load(path)``: a ``.npz`` of plain arrays, never Python objects;
- ``for_users(users, user_items) -> model``: the fitted model serving other users, given by their
  rating rows (fold-in: item-side parameters kept, user-side state computed from the rows), for
  models that can (EASE, iALS, item-based KNN, PureSVD, popularity, the hybrid of those).

Subclasses implement ``_fit``, ``score_users`` (dense scores for a block of user indices),
optionally ``_predict`` (rating estimates by index), ``_state`` / ``_set_state`` and
``_fold_in``.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import IdIndex, RatingData
from recsys_core.errors import ConfigError, DataError, NotFittedError
from recsys_core.memory import require_memory
from recsys_core.models import registry
from recsys_core.models.storage import read_npz, write_npz
from recsys_core.params import as_dict, build_params
from recsys_core.ranking.topn import TopN, block_topn


class Recommender(ABC):
    """Base class of every model; see the module docstring for the contract."""

    Params: ClassVar[type]
    """The :class:`recsys_core.params.Params` model of the model's hyperparameters."""

    def __init__(self, **params: Any) -> None:
        self.params = build_params(self.Params, params, where=type(self).__name__)
        self._data: RatingData | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in as_dict(self.params).items())
        return f"{type(self).__name__}({args})"

    # -- fitted state -------------------------------------------------------------------------
    @property
    def data(self) -> RatingData:
        """Training data in index space; raises :class:`NotFittedError` before ``fit``."""
        if self._data is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load()")
        return self._data

    @property
    def is_fitted(self) -> bool:
        return self._data is not None

    # -- the contract -------------------------------------------------------------------------
    def fit(
        self, ratings: pl.DataFrame, *, rating_scale: tuple[float, float] | None = None
    ) -> Self:
        """Fit on ``ratings`` (``user_id, item_id, rating[, timestamp]``, one row per pair)."""
        return self.fit_on(RatingData.from_frame(ratings, rating_scale), ratings)

    def fit_on(self, data: RatingData, ratings: pl.DataFrame) -> Self:
        """:meth:`fit` on ratings already in index space: ``data`` is
        ``RatingData.from_frame(ratings)``, built once and shared by every fit on the same
        ratings (one id mapping, one CSR)."""
        self._data = None
        self._fit(data, ratings)
        self._data = data
        return self

    @classmethod
    def fitter(
        cls, data: RatingData, ratings: pl.DataFrame
    ) -> Callable[[Mapping[str, Any]], Recommender]:
        """A function ``params -> this model fitted on data`` for many fits on the same ratings
        (a selection's candidates), so that a model can share work between them (EASE: one
        Gram matrix; iALS: warm starts). Here: each candidate fitted anew with :meth:`fit_on`."""
        return lambda params: cls(**params).fit_on(data, ratings)

    def predict(self, pairs: pl.DataFrame) -> np.ndarray:
        """Estimates for the ``(user_id, item_id)`` rows of ``pairs``, in order."""
        u, i = self.data.index_pairs(pairs)
        return np.asarray(self._predict(u, i), dtype=np.float64)

    def recommend(
        self, n: int = 10, users: pl.Series | list | None = None, *, block_size: int | None = None
    ) -> pl.DataFrame:
        """Top-``n`` unseen items per user: ``user_id, rank, item_id, score``.

        ``users`` defaults to every training user; users unknown to the model get no rows
        (the hybrid's fallback serves them). ``block_size`` only changes speed and memory.
        """
        return self.to_frame(self.topn_indices(n, users, block_size=block_size))

    def topn_indices(
        self, n: int, users: pl.Series | list | None = None, *, block_size: int | None = None
    ) -> TopN:
        """Like :meth:`recommend`, in index space."""
        if n < 1:
            raise DataError(f"n must be >= 1, got {n}")
        idx = self.known_users(users)
        if block_size:  # a block holds a few dense (users x items) float arrays
            need = 4.0 * 8 * min(block_size, max(len(idx), 1)) * self.data.n_items
            require_memory(need, f"block_size={block_size}", "use a smaller block_size (or None)")
        return self._topn(idx, n, block_size)

    def known_users(self, users: pl.Series | list | None) -> np.ndarray:
        """Indices of ``users`` that the model knows, in the given order (all when None)."""
        data = self.data
        if users is None:
            return np.arange(data.n_users, dtype=np.int64)
        idx = data.users.index_of(users if isinstance(users, pl.Series) else pl.Series(users))
        return idx[idx >= 0]

    def _topn(self, users: np.ndarray, n: int, block_size: int | None) -> TopN:
        """Top-``n`` for user indices: the one top-N ranker on this model's scores (a composite
        model such as the hybrid puts its blend, fallback and cold slots around it)."""
        return block_topn(self.score_users, self.data.user_items, users, n, block_size)

    def to_frame(self, top: TopN) -> pl.DataFrame:
        """Index-space top-N as a frame of raw ids."""
        return pl.DataFrame(
            {
                "user_id": self.data.users.raw(top.users),
                "rank": pl.Series(top.ranks, dtype=pl.Int32),
                "item_id": self.data.items.raw(top.items),
                "score": pl.Series(top.scores, dtype=pl.Float64),
            }
        )

    # -- fold-in ---------------------------------------------------------------------------------
    def for_users(self, users: IdIndex, user_items: sp.csr_matrix) -> Self:
        """This fitted model serving the ``users`` whose ratings are the rows of ``user_items``
        (``len(users) x n_items``, columns = this model's item indices): a copy that keeps every
        item-side parameter as fitted and computes the user-side state from the rows (fold-in;
        see each model's ``_fold_in``). Its user indices are the positions in ``users``, so
        ``score_users``, ``recommend`` and ``explain`` work on it as on the original; a user
        the fit saw, given the same row, gets the same scores (iALS: its factors re-solved
        against the fixed item factors). ``rating_scale`` is the fit's.
        """
        fitted = self.data
        rows = sp.csr_matrix(user_items, dtype=np.float64)
        if rows.shape != (len(users), fitted.n_items):
            raise DataError(
                f"for_users needs a {len(users)} x {fitted.n_items} matrix (users x this "
                f"model's items), got {rows.shape[0]} x {rows.shape[1]}"
            )
        if users.dtype != fitted.users.dtype:
            raise DataError(f"user ids are {users.dtype}, the model's are {fitted.users.dtype}")
        rows.sort_indices()
        model = copy.copy(self)
        model._data = RatingData(users, fitted.items, rows, fitted.rating_scale)
        model._fold_in(fitted)
        return model

    def _fold_in(self, fitted: RatingData) -> None:
        """Set the user-side state of a copy whose ``data`` now holds other users (``fitted``:
        the data the model was fitted on). Models that cannot fold users in raise."""
        raise ConfigError(
            f"{type(self).__name__} cannot fold in users (no for_users): lists of users who rated "
            "since the fit need EASE, IALS, item-based KNN, PureSVD or Popularity components"
        )

    # -- what subclasses provide ----------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        """Learn the model's state from ``data`` (the raw frame is there for timestamps)."""

    @abstractmethod
    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Ranking scores (b x n_items, higher is better, NaN = cannot score) for user indices."""

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Rating estimates by index (-1 = unknown). Models that do not predict ratings: NaN."""
        return np.full(len(users), np.nan)

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays beyond the training data, for ``save``."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``_state`` returned."""

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (``.npz`` of plain arrays; parameters as JSON)."""
        data = self.data
        m = data.user_items
        header = {
            "class": type(self).__name__,
            "params": as_dict(self.params),
            "rating_scale": list(data.rating_scale),
            "shape": list(m.shape),
        }
        arrays = {
            "user_ids": data.users.to_numpy(),
            "item_ids": data.items.to_numpy(),
            "ui_indptr": m.indptr,
            "ui_indices": m.indices,
            "ui_data": m.data,
        }
        state = {f"state_{k}": v for k, v in self._state().items()}
        return write_npz(path, header, {**arrays, **state})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recommender:
        """Read a model written by :meth:`save` (``Recommender.load`` picks the class among the
        registered ones, :mod:`recsys_core.models.registry`)."""
        header, arrays = read_npz(path)
        try:
            model_cls = registry.registered(header["class"])
        except ConfigError as e:
            raise DataError(f"{path}: {e}") from None
        if not issubclass(model_cls, cls):
            raise DataError(f"{path}: holds a {header['class']}, not a {cls.__name__}")
        model = model_cls(**header["params"])
        shape = tuple(header["shape"])
        matrix = sp.csr_matrix(
            (arrays["ui_data"], arrays["ui_indices"], arrays["ui_indptr"]), shape=shape
        )
        lo, hi = header["rating_scale"]
        model._data = RatingData(
            IdIndex.from_numpy(arrays["user_ids"]),
            IdIndex.from_numpy(arrays["item_ids"]),
            matrix,
            (float(lo), float(hi)),
        )
        model._set_state({k[6:]: v for k, v in arrays.items() if k.startswith("state_")})
        return model
