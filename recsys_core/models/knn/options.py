"""``sim_options`` (Surprise's keys) and the hyperparameters shared by the KNN models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from recsys_core.errors import ConfigError
from recsys_core.models.baseline import BaselineOptions, baseline_options
from recsys_core.params import build_params, require

SIM_NAMES = ("cosine", "msd", "pearson", "pearson_baseline")
RANK_WEIGHTS = ("binary", "rating", "centered")
RANK_NEIGHBORS = ("candidate", "rated")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class SimOptions:
    """Surprise's ``sim_options``, validated.

    Attributes:
        name: ``"msd"`` (default, as in Surprise), ``"cosine"``, ``"pearson"`` or
            ``"pearson_baseline"`` (case-insensitive, as in Surprise).
        user_based: similarities between users (True) or between items (False, the default
            here; Surprise's default is True).
        min_support: pairs with fewer common raters get similarity 0 (default 1; at least 2
            for ``pearson_baseline``, as in Surprise).
        shrinkage: ``pearson_baseline`` shrinkage (default 100).
    """

    name: Literal["cosine", "msd", "pearson", "pearson_baseline"] = "msd"
    user_based: bool = False
    min_support: int = 1
    shrinkage: float = 100.0

    def __post_init__(self) -> None:
        name = self.name.lower() if isinstance(self.name, str) else self.name
        require(name in SIM_NAMES, "sim_options.name", self.name, " | ".join(SIM_NAMES))
        object.__setattr__(self, "name", name)
        ok = isinstance(self.user_based, bool | np.bool_)
        require(ok, "sim_options.user_based", self.user_based, "True or False")
        object.__setattr__(self, "user_based", bool(self.user_based))
        ok = _is_int(self.min_support) and self.min_support >= 0
        require(ok, "sim_options.min_support", self.min_support, "an int >= 0")
        object.__setattr__(self, "min_support", int(self.min_support))
        ok = _is_number(self.shrinkage) and self.shrinkage >= 0
        require(ok, "sim_options.shrinkage", self.shrinkage, "a number >= 0")
        object.__setattr__(self, "shrinkage", float(self.shrinkage))


def sim_options(value: SimOptions | Mapping[str, Any] | None) -> SimOptions:
    """Validated :class:`SimOptions` from a Surprise-style dict (or None = defaults).

    An unknown key raises :class:`ConfigError` naming it and the closest valid key; a bad value
    raises :class:`ConfigError` naming the key and the value.
    """
    if value is None:
        return SimOptions()
    if isinstance(value, SimOptions):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"sim_options must be a dict, got {type(value).__name__}")
    return build_params(SimOptions, dict(value), where="sim_options")


@dataclass(frozen=True, kw_only=True)
class KNNParams:
    """Hyperparameters of the KNN models (Surprise's, plus performance and ranking knobs).

    Attributes:
        k: at most ``k`` neighbours per prediction (Surprise's ``k``, default 40); also the
            number of neighbours per item (or user) kept for ranking scores.
        min_k: fewer usable neighbours than this falls back (default 1).
        sim_options: the similarity (see :class:`SimOptions`).
        bsl_options: baseline options (see :class:`recsys_core.models.baseline`), used by
            ``KNNBaseline`` and by the ``pearson_baseline`` similarity.
        max_neighbors: keep at most this many neighbours per item (or user) in the fitted
            similarity matrix: those with the largest support-shrunk similarity
            ``sim * freq / (freq + rank_shrinkage)`` (ties by smaller index), stored with their
            plain similarity. None keeps every positive similarity, which reproduces Surprise
            exactly but costs memory quadratic in the catalogue; any value >= the largest row
            count gives the same results as None. Pruning by the shrunk value keeps neighbours
            with real support: on ML-100k, KNNWithMeans(msd) with 100 neighbours has RMSE
            0.926 (0.936 with all; 1.086 when pruning by the plain msd, which favours pairs
            with one common rater).
        rank_weight: what each of the user's rated items contributes to a candidate's ranking
            score (see :mod:`recsys_core.models.knn.ranking`): ``"rating"`` (default),
            ``"binary"`` or ``"centered"``.
        rank_neighbors: whose top-k neighbourhood carries the evidence (item-based):
            ``"candidate"`` (default; the candidate's k most similar items, among those the user
            rated) or ``"rated"`` (each rated item passes evidence to its own k most similar
            items; much cheaper top-N on large catalogues, slightly worse lists).
        rank_shrinkage: ``lambda`` in the ranking similarity ``sim * freq / (freq + lambda)``
            (``freq`` = number of common raters; default 100): it stops pairs with one or two
            common raters from dominating the lists.
        block_size: rows of the similarity matrix computed at once (None = from a memory
            budget). Only speed and memory depend on it.
        n_threads: threads computing similarity blocks (None = all cores). Only speed depends
            on it.
    """

    k: int = 40
    min_k: int = 1
    sim_options: SimOptions = field(default_factory=SimOptions)
    bsl_options: BaselineOptions = field(default_factory=BaselineOptions)
    max_neighbors: int | None = None
    rank_weight: Literal["binary", "rating", "centered"] = "rating"
    rank_neighbors: Literal["candidate", "rated"] = "candidate"
    rank_shrinkage: float = 100.0
    block_size: int | None = None
    n_threads: int | None = None

    def __post_init__(self) -> None:
        require(_is_int(self.k) and self.k >= 1, "k", self.k, "an int >= 1")
        require(_is_int(self.min_k) and self.min_k >= 0, "min_k", self.min_k, "an int >= 0")
        object.__setattr__(self, "sim_options", sim_options(self.sim_options))
        object.__setattr__(self, "bsl_options", baseline_options(self.bsl_options))
        for name in ("max_neighbors", "block_size", "n_threads"):
            value = getattr(self, name)
            ok = value is None or (_is_int(value) and value >= 1)
            require(ok, name, value, "None or an int >= 1")
        ok = _is_number(self.rank_shrinkage) and self.rank_shrinkage >= 0
        require(ok, "rank_shrinkage", self.rank_shrinkage, "a number >= 0")
        object.__setattr__(self, "rank_shrinkage", float(self.rank_shrinkage))
        ok = self.rank_neighbors in RANK_NEIGHBORS
        require(ok, "rank_neighbors", self.rank_neighbors, " | ".join(RANK_NEIGHBORS))
        weights = " | ".join(RANK_WEIGHTS)
        require(self.rank_weight in RANK_WEIGHTS, "rank_weight", self.rank_weight, weights)
