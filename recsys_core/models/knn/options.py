"""``sim_options`` (Surprise's keys) and the hyperparameters shared by the KNN models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from recsys_core.models.baseline import BaselineOptions
from recsys_core.params import Params


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class SimOptions(Params):
    """Surprise's ``sim_options``, validated (see :mod:`recsys_core.models.knn.similarities`
    for each measure's formula)."""

    name: Annotated[
        Literal["cosine", "msd", "pearson", "pearson_baseline"], BeforeValidator(_lower)
    ] = "msd"
    """The similarity measure (case-insensitive, as in Surprise); ``"msd"``, the mean squared
    difference ``1 / (msd + 1)``, is Surprise's default."""
    user_based: bool = False
    """Similarities between users (True) or between items (False). False here (Surprise: True):
    items have more ratings each than users, so item similarities are better supported, and
    there are fewer items to compare."""
    min_support: int = Field(1, ge=0)
    """Pairs with fewer common raters than this get similarity 0. Default 1 (Surprise's), i.e.
    every co-rated pair counts; ``pearson_baseline`` uses at least 2, as in Surprise."""
    shrinkage: float = Field(100.0, ge=0)
    """``pearson_baseline`` only: ``sim * (n - 1) / (n - 1 + shrinkage)`` with ``n`` common
    raters; default 100 (Surprise's), shrinking weakly supported pairs toward 0."""


class KNNParams(Params):
    """Hyperparameters of the KNN models (Surprise's, plus performance and ranking knobs)."""

    k: int = Field(40, ge=1)
    """At most ``k`` neighbours per prediction (Surprise's ``k`` and default); also the number
    of neighbours per item (or user) that carry ranking scores."""
    min_k: int = Field(1, ge=0)
    """With fewer usable neighbours than ``min_k`` the estimate falls back (KNNBasic: the global
    mean ``mu``; the others drop the neighbour term, leaving ``mu_i`` or ``b_ui``); default 1
    (Surprise's)."""
    sim_options: SimOptions = Field(default_factory=SimOptions)
    """The similarity (a dict of Surprise's keys or :class:`SimOptions`)."""
    bsl_options: BaselineOptions = Field(default_factory=BaselineOptions)
    """Baseline options (see :mod:`recsys_core.models.baseline`), used by ``KNNBaseline`` and
    by the ``pearson_baseline`` similarity."""
    max_neighbors: int | None = Field(None, ge=1)
    """Keep at most this many neighbours per item (or user) in the fitted similarity matrix:
    those with the largest support-shrunk similarity ``sim * freq / (freq + rank_shrinkage)``
    (ties by smaller index), stored with their plain similarity. None keeps every positive
    similarity: Surprise's results exactly, at a memory cost quadratic in the catalogue; any
    value >= the largest row count is the same as None. Pruning by the shrunk value keeps
    neighbours with real support (pruning by plain msd favours pairs with one common rater)."""
    rank_weight: Literal["binary", "rating", "centered"] = "rating"
    """What each of the user's rated items contributes to a candidate's ranking score (see
    :mod:`recsys_core.models.knn.ranking`): its rating (default), 1, or its rating minus the
    user's mean."""
    rank_neighbors: Literal["candidate", "rated"] = "candidate"
    """Whose top-k neighbourhood carries the evidence (item-based): ``"candidate"`` (the
    candidate's k most similar items among those the user rated; the default, better lists) or
    ``"rated"`` (each rated item passes evidence to its own k most similar items; much cheaper
    top-N on large catalogues)."""
    rank_shrinkage: float = Field(100.0, ge=0)
    """``lambda`` in the ranking similarity ``sim * freq / (freq + lambda)`` (``freq`` = number
    of common raters): it stops pairs with one or two common raters from dominating the
    lists; 100 matches Surprise's ``shrinkage`` default."""
    block_size: int | None = Field(None, ge=1)
    """Rows of the similarity matrix computed at once (None = from a memory budget). Only speed
    and memory depend on it."""
    n_threads: int | None = Field(1, ge=1)
    """Threads computing similarity blocks (None = all cores). Only speed depends on it. One
    by default: on a busy 2-core machine a second thread made the ML-100k item-KNN fit slower
    (0.49-0.54 s wall against 0.23-0.34 s, page-fault time 0.15-0.21 s against 0.04-0.06 s);
    the pipeline runs steps in parallel processes instead (docs/benchmarks.md)."""
