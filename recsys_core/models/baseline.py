"""Baseline estimates ``b_ui = mu + b_u + b_i`` fitted as in Surprise (``bsl_options``).

Notation (Surprise's): ``mu`` is the global mean rating, ``b_u`` and ``b_i`` the user and item
biases, ``R`` the training ratings, ``U_i`` the users who rated item i and ``I_u`` the items
user u rated. The biases minimise

    sum_{r_ui in R} (r_ui - (mu + b_u + b_i))^2 + lambda * (b_u^2 + b_i^2)

by one of two methods, chosen with ``bsl_options["method"]``:

- ``"als"`` (default; keys ``n_epochs`` = 10, ``reg_i`` = 10, ``reg_u`` = 15). Each epoch sets,
  for every item then for every user,

      b_i = sum_{u in U_i} (r_ui - mu - b_u) / (reg_i + |U_i|)
      b_u = sum_{i in I_u} (r_ui - mu - b_i) / (reg_u + |I_u|)

  (vectorised here: one pass over the ratings per half-epoch).
- ``"sgd"`` (keys ``n_epochs`` = 20, ``reg`` = 0.02, ``learning_rate`` = 0.005). Each epoch
  visits the ratings in (user index, item index) order and, with
  ``e_ui = r_ui - (mu + b_u + b_i)``, updates

      b_u <- b_u + learning_rate * (e_ui - reg * b_u)
      b_i <- b_i + learning_rate * (e_ui - reg * b_i)

  This is sequential: users are visited one at a time; within a user the recurrence on ``b_u``
  is linear (each item occurs once per user), so it is solved with one ``lfilter`` call. Surprise
  visits ratings in the order it read them; it agrees with this order when fed ratings sorted by
  user, then item.

Biases start at 0. Unknown users or items get a bias of 0 (the estimate is ``mu`` plus the known
bias), exactly as Surprise's ``BaselineOnly``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field, model_validator

from recsys_core.data.ids import RatingData
from recsys_core.errors import ConfigError, DataError
from recsys_core.models.base import Recommender
from recsys_core.params import BadKey, Params, build_params

log = logging.getLogger(__name__)

ALS_DEFAULTS = {"n_epochs": 10, "reg_i": 10.0, "reg_u": 15.0}
SGD_DEFAULTS = {"n_epochs": 20, "reg": 0.02, "learning_rate": 0.005}
METHOD_KEYS = {"als": ("reg_i", "reg_u"), "sgd": ("reg", "learning_rate")}


class BaselineOptions(Params):
    """Surprise's ``bsl_options``, validated; unset keys take the chosen method's default
    (``ALS_DEFAULTS`` or ``SGD_DEFAULTS``); setting a key of the other method is an error."""

    method: Literal["als", "sgd"] = "als"
    """How the biases are fitted: ``"als"`` (alternating closed-form updates, Surprise's
    default) or ``"sgd"`` (see the module docstring for both update rules)."""
    n_epochs: int | None = Field(None, ge=0)
    """Passes over the ratings; default 10 for ALS, 20 for SGD (Surprise's defaults)."""
    reg_i: float | None = Field(None, ge=0)
    """ALS: ``reg_i`` in ``b_i = sum (r_ui - mu - b_u) / (reg_i + |U_i|)``; default 10
    (Surprise's): an item's bias counts as if it had 10 extra ratings at the mean."""
    reg_u: float | None = Field(None, ge=0)
    """ALS: ``reg_u`` in ``b_u = sum (r_ui - mu - b_i) / (reg_u + |I_u|)``; default 15
    (Surprise's)."""
    reg: float | None = Field(None, ge=0)
    """SGD: ``reg`` in ``b <- b + learning_rate * (e_ui - reg * b)``; default 0.02
    (Surprise's)."""
    learning_rate: float | None = Field(None, gt=0)
    """SGD: the step ``learning_rate`` of the same update; default 0.005 (Surprise's)."""

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, values: Any) -> Any:
        """Refuse the other method's keys; fill this method's unset keys with its defaults."""
        if not isinstance(values, dict) or values.get("method", "als") not in METHOD_KEYS:
            return values  # field validation reports it
        method = values.get("method", "als")
        other = "sgd" if method == "als" else "als"
        for key in METHOD_KEYS[other]:
            if values.get(key) is not None:
                raise BadKey(
                    key,
                    values[key],
                    f"{key!r} is an {other.upper()} option, but method is {method!r} "
                    f"(it uses {', '.join(METHOD_KEYS[method])})",
                )
        defaults = ALS_DEFAULTS if method == "als" else SGD_DEFAULTS
        return {**values, **{k: v for k, v in defaults.items() if values.get(k) is None}}


def baseline_options(value: BaselineOptions | Mapping[str, Any] | None) -> BaselineOptions:
    """Validated :class:`BaselineOptions` from a Surprise-style dict (or None = defaults).

    An unknown key raises :class:`ConfigError` naming it and the closest valid key.
    """
    if value is None:
        return BaselineOptions()
    if isinstance(value, BaselineOptions):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"bsl_options must be a dict, got {type(value).__name__}")
    return build_params(BaselineOptions, dict(value), where="bsl_options")


def compute_baselines(
    user_items: sp.csr_matrix,
    global_mean: float,
    options: BaselineOptions | Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """User and item biases ``(bu, bi)`` for a users x items CSR of ratings (see module doc).

    ``user_items`` must have sorted indices (as :class:`RatingData` guarantees). The sums run
    in the order Surprise runs them, so results agree with it to the last bits or nearly.
    """
    opts = baseline_options(options)
    m = sp.csr_matrix(user_items)
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    if opts.method == "als":
        return _als(m, float(global_mean), opts)
    return _sgd(m, float(global_mean), opts)


def _als(m: sp.csr_matrix, mu: float, opts: BaselineOptions) -> tuple[np.ndarray, np.ndarray]:
    n_users, n_items = m.shape
    users = np.repeat(np.arange(n_users), np.diff(m.indptr))
    n_u = np.diff(m.indptr).astype(np.float64)
    n_i = np.bincount(m.indices, minlength=n_items).astype(np.float64)
    # CSC order visits each item's ratings by user index, as Surprise's ir[i] does (CSR order
    # is by user, so a stable sort by item gives it)
    by_item = np.argsort(m.indices, kind="stable")
    item_of, user_of, r_col = m.indices[by_item], users[by_item], m.data[by_item]
    centred = m.data - mu
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(opts.n_epochs):
        dev_i = np.bincount(item_of, weights=(r_col - mu) - bu[user_of], minlength=n_items)
        bi = dev_i / (opts.reg_i + n_i)
        dev_u = np.bincount(users, weights=centred - bi[m.indices], minlength=n_users)
        bu = dev_u / (opts.reg_u + n_u)
    return bu, bi


def _sgd(m: sp.csr_matrix, mu: float, opts: BaselineOptions) -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import lfilter

    lr, reg = opts.learning_rate, opts.reg
    decay = 1.0 - lr * (1.0 + reg)  # b_u' = decay * b_u + lr * (r_ui - mu - b_i)
    n_users, n_items = m.shape
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    starts, ends = m.indptr[:-1], m.indptr[1:]
    for _ in range(opts.n_epochs):
        for u in range(n_users):
            items = m.indices[starts[u] : ends[u]]
            r = m.data[starts[u] : ends[u]]
            b_i = bi[items]
            after, _ = lfilter([1.0], [1.0, -decay], lr * (r - mu - b_i), zi=[decay * bu[u]])
            before = np.concatenate(([bu[u]], after[:-1]))
            err = r - (mu + before + b_i)
            bi[items] = b_i + lr * (err - reg * b_i)
            bu[u] = after[-1]
    return bu, bi


def baseline_estimates(
    bu: np.ndarray, bi: np.ndarray, mu: float, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """``mu + b_u + b_i`` for index arrays (-1 = unknown contributes a bias of 0)."""
    out = np.full(len(users), mu)
    known_u, known_i = users >= 0, items >= 0
    out[known_u] += bu[users[known_u]]
    out[known_i] += bi[items[known_i]]
    return out


class BaselineOnlyParams(Params):
    """Hyperparameters of :class:`BaselineOnly`."""

    bsl_options: BaselineOptions = Field(default_factory=BaselineOptions)
    """Surprise's baseline options (a dict or :class:`BaselineOptions`); see the module
    docstring for the keys, their formulas and their defaults."""


class BaselineOnly(Recommender):
    """Surprise's ``BaselineOnly``: predicts ``r_hat_ui = mu + b_u + b_i``, clipped to the scale.

    Ranking scores are the same estimates (so lists follow ``b_i``: a non-personalised,
    bias-corrected popularity).
    """

    Params = BaselineOnlyParams

    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        self.mu_ = data.global_mean
        self.bu_, self.bi_ = compute_baselines(data.user_items, self.mu_, self.params.bsl_options)
        if not (np.isfinite(self.bu_).all() and np.isfinite(self.bi_).all()):
            raise DataError("baseline biases are not finite: check bsl_options")

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """``mu + b_u + b_i`` for every item (b x n_items)."""
        return (self.mu_ + self.bu_[users])[:, None] + self.bi_[None, :]

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        lo, hi = self.data.rating_scale
        return np.clip(baseline_estimates(self.bu_, self.bi_, self.mu_, users, items), lo, hi)

    def _state(self) -> dict[str, np.ndarray]:
        return {"mu": np.asarray(self.mu_), "bu": self.bu_, "bi": self.bi_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.mu_ = float(arrays["mu"])
        self.bu_ = arrays["bu"]
        self.bi_ = arrays["bi"]
