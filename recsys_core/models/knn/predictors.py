"""KNNBasic, KNNWithMeans, KNNBaseline: Surprise's neighbourhood rating predictors.

Notation (Surprise's, item-based; swap users and items when ``user_based``): ``N^k_u(i)`` are the
``k`` items most similar to i among those u rated, counting only positive similarities (ties in
similarity: smaller item index, i.e. smaller raw id, first); ``mu_i`` is item i's mean rating;
``b_ui = mu + b_u + b_i`` the baseline (:mod:`recsys_core.models.baseline`).

- ``KNNBasic``:      ``r_hat = sum_j sim(i, j) r_uj / sum_j sim(i, j)``
- ``KNNWithMeans``:  ``r_hat = mu_i + sum_j sim(i, j) (r_uj - mu_j) / sum_j sim(i, j)``
- ``KNNBaseline``:   ``r_hat = b_ui + sum_j sim(i, j) (r_uj - b_uj) / sum_j sim(i, j)``

with j over ``N^k_u(i)``. With fewer than ``min_k`` neighbours, KNNBasic predicts the global mean
``mu`` and the others drop the weighted term (``mu_i`` or ``b_ui``). An unknown user or item gives
``mu`` (KNNBaseline: ``mu`` plus the known bias, as Surprise's code does). Estimates are clipped
to the rating scale.

Top-N lists do not rank by these estimates but by the ranking scores of
:mod:`recsys_core.models.knn.ranking` (``score_users``, ranked by the one top-N ranker
:func:`recsys_core.ranking.topn.block_topn`); the fitted similarities are in
:mod:`recsys_core.models.knn.similarities`.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import RatingData
from recsys_core.errors import ConfigError
from recsys_core.memory import require_memory
from recsys_core.models.base import Recommender
from recsys_core.models.baseline import baseline_estimates, compute_baselines
from recsys_core.models.knn.neighbors import neighborhood_sums, pair_chunks
from recsys_core.models.knn.options import KNNParams
from recsys_core.models.knn.padded import padded_sums
from recsys_core.models.knn.ranking import explain_rows, rank_scores
from recsys_core.models.knn.similarities import rank_matrix, reindexed, similarity_matrix

ITEM_SIDE_CACHE = ("nbr", "t", "t1")
"""Derived matrices of an item-based model that depend on items only (kept by a fold-in)."""


class KNNBase(Recommender):
    """Shared fitting, neighbourhood search, ranking and persistence of the KNN models."""

    Params = KNNParams
    uses_baselines = False

    # -- fitting --------------------------------------------------------------------------------
    def _fit(self, data: RatingData, ratings: pl.DataFrame) -> None:
        p, opts = self.params, self.params.sim_options
        x, residuals = self._fit_statistics(data)
        if p.max_neighbors is None:
            _check_all_pairs_fit(x)
        fitted = similarity_matrix(
            x,
            opts,
            residuals=residuals,
            max_neighbors=p.max_neighbors,
            rank_k=p.k,
            rank_shrinkage=p.rank_shrinkage,
            block_size=p.block_size,
            n_threads=p.n_threads,
            with_rank=False,
        )
        self.sim_, self._rank, self._freq = fitted.sim, fitted.rank, fitted.freq
        self.cache_: dict[str, sp.csr_matrix] = {}  # derived matrices, rebuilt on demand

    @property
    def rank_(self) -> sp.csr_matrix:
        """The ranking neighbourhoods, built on first use from ``sim_`` and the counts ``fit``
        kept: predictions alone never pay for them (a third of the fit on ML-100k)."""
        if self._rank is None:
            p = self.params
            self._rank = rank_matrix(self.sim_, self._freq, p.k, p.rank_shrinkage, p.block_size)
            self._freq = None
        return self._rank

    @rank_.setter
    def rank_(self, value: sp.csr_matrix) -> None:
        self._rank, self._freq = value, None

    def _fit_statistics(self, data: RatingData) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """Set ``mu_``, ``bu_``, ``bi_`` and ``means_`` from ``data``; return the rows x
        (sorted CSR) and, for ``pearson_baseline``, their baseline residuals."""
        opts = self.params.sim_options
        m = data.user_items
        self.mu_ = data.global_mean
        x = _sorted(m if opts.user_based else m.T.tocsr())
        self.bu_ = self.bi_ = np.empty(0)
        residuals = None
        if self.uses_baselines or opts.name == "pearson_baseline":
            self.bu_, self.bi_ = compute_baselines(m, self.mu_, self.params.bsl_options)
            b_x, b_y = self._switch(self.bu_, self.bi_)
            rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
            residuals = x.data - ((self.mu_ + b_y[x.indices]) + b_x[rows])
        self.means_ = _row_means(x)
        return x, residuals

    def with_ratings(
        self, ratings: pl.DataFrame, *, rating_scale: tuple[float, float] | None = None
    ) -> Self:
        """A new model that keeps this one's similarities but is otherwise fitted on ``ratings``.

        ``mu``, the means, the baselines and the neighbours' ratings all come from ``ratings``
        (as ``fit`` would set them); ``sim`` and the ranking neighbourhoods are this model's,
        re-indexed by raw id (an x this model never saw has no neighbours but itself, an x
        absent from ``ratings`` is dropped). Costs a fraction of ``fit``, which is dominated by
        the similarities: this is how a model fitted on part of the ratings (e.g. for
        validation) is brought up to all of them cheaply.
        """
        old = self.data
        data = RatingData.from_frame(ratings, rating_scale)
        new = copy.copy(self)
        new._data = None
        new._fit_statistics(data)
        ids_old, ids_new = self._switch((old.users, data.users), (old.items, data.items))[0]
        to_new = ids_new.index_of(ids_old.ids)
        new.sim_ = reindexed(self.sim_, to_new, len(ids_new), diagonal=True)
        new.rank_ = reindexed(self.rank_, to_new, len(ids_new), diagonal=False)
        new.cache_ = {}
        new._data = data
        return new

    def _fold_in(self, fitted: RatingData) -> None:
        """Item-based: the similarities, neighbourhoods and item means are item-side, so a
        folded-in user's scores come from their own row; a user bias (baselines) is 0, as for a
        user unknown at fit time. User-based KNN cannot: its neighbours are the fit's users."""
        if self.params.sim_options.user_based:
            raise ConfigError(
                f"{type(self).__name__} with user_based=True cannot fold in users (its "
                "neighbourhoods are users); use item-based KNN for lists between fits"
            )
        self.cache_ = {k: v for k, v in self.cache_.items() if k in ITEM_SIDE_CACHE}
        if len(self.bu_):
            self.bu_ = np.zeros(self.data.n_users)

    def _switch(self, u_stuff, i_stuff):
        """``(x_stuff, y_stuff)``: users first when user-based, items first otherwise."""
        return (u_stuff, i_stuff) if self.params.sim_options.user_based else (i_stuff, u_stuff)

    def _y_by_x(self) -> sp.csr_matrix:
        """Ratings as y x x' (item-based: users x items, as stored), sorted indices."""
        m = self.data.user_items
        if not self.params.sim_options.user_based:
            return m
        if "yx" not in self.cache_:
            self.cache_["yx"] = _sorted(m.T.tocsr())
        return self.cache_["yx"]

    # -- predictions ----------------------------------------------------------------------------
    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self._details(users, items)[0]

    def predict_details(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Estimates with their neighbourhood: ``user_id, item_id, estimate, n_neighbors,
        fallback`` (``fallback``: unknown user or item, or fewer than ``min_k`` neighbours, so
        the estimate is the global mean, mean or baseline; Surprise's ``was_impossible`` for
        KNNBasic)."""
        u, i = self.data.index_pairs(pairs)
        est, n_nb, fallback = self._details(u, i)
        return pairs.select("user_id", "item_id").with_columns(
            pl.Series("estimate", est, dtype=pl.Float64),
            pl.Series("n_neighbors", n_nb, dtype=pl.Int32),
            pl.Series("fallback", fallback, dtype=pl.Boolean),
        )

    def _details(self, users: np.ndarray, items: np.ndarray):
        known = (users >= 0) & (items >= 0)
        x, y = self._switch(users[known], items[known])
        sum_sim, sum_dev, count = self._neighborhood_sums(x, y)
        enough = (count >= self.params.min_k) & (sum_sim > 0)
        est = self._unknown(users, items)
        est[known] = self._combine(x, y, users[known], items[known], sum_sim, sum_dev, enough)
        n_nb = np.zeros(len(users), dtype=np.int64)
        n_nb[known] = count
        fallback = np.ones(len(users), dtype=bool)
        fallback[known] = ~enough
        lo, hi = self.data.rating_scale
        return np.clip(est, lo, hi), n_nb, fallback

    def _neighborhood_sums(self, x: np.ndarray, y: np.ndarray, route: str = "auto"):
        """Per pair: ``sum sim``, ``sum sim * deviation`` and the count over ``N^k``.

        Pairs walk their rated row as padded blocks (:mod:`recsys_core.models.knn.padded`),
        or their stored similarity row as gathered entries
        (:func:`~recsys_core.models.knn.neighbors.pair_chunks`) where that row is shorter and
        the entries saved outnumber ``sim``'s (the walk's set-up touches all of them: it pays
        with a pruned ``sim``, ``max_neighbors``). ``route`` forces one walk (tests).
        """
        sim, yx, k = self.sim_, self._y_by_x(), self.params.k
        if route == "auto":
            rated_len, sim_len = np.diff(yx.indptr)[y], np.diff(sim.indptr)[x]
            by_sim = sim_len < rated_len
            if np.sum((rated_len - sim_len)[by_sim]) < sim.nnz:  # saves less than its set-up
                by_sim[:] = False
        else:
            by_sim = np.full(len(x), route == "similarities")
        rated = np.flatnonzero(~by_sim)
        rows = np.repeat(np.arange(yx.shape[0]), np.diff(yx.indptr))
        dev = self._deviation(yx.indices, yx.data, rows)
        sums = padded_sums(sim, yx, dev, x[rated], y[rated], k)
        if len(rated) == len(x):
            return sums
        sum_sim, sum_dev = np.zeros(len(x)), np.zeros(len(x))
        count = np.zeros(len(x), dtype=np.int64)
        sum_sim[rated], sum_dev[rated], count[rated] = sums
        walked = np.flatnonzero(by_sim)
        for ent in pair_chunks(sim, yx, x[walked], y[walked], route="similarities"):
            dev = self._deviation(ent.cols, ent.values, y[walked[ent.pairs]][ent.seg])
            at = walked[ent.pairs]
            sums = neighborhood_sums(ent.seg, ent.sims, dev, len(ent.pairs), k)
            sum_sim[at], sum_dev[at], count[at] = sums
        return sum_sim, sum_dev, count

    def _unknown(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Estimates for pairs with an unknown user or item: the global mean."""
        return np.full(len(users), self.mu_)

    @abstractmethod
    def _deviation(self, nb: np.ndarray, r: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What a neighbour ``nb`` with rating ``r`` of ``y`` contributes (weighted by sim)."""

    @abstractmethod
    def _combine(self, x, y, users, items, sum_sim, sum_dev, enough) -> np.ndarray:
        """Estimates of known pairs from their neighbourhood sums (``enough``: >= min_k)."""

    # -- ranking and explanations ---------------------------------------------------------------
    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Ranking scores (see :mod:`recsys_core.models.knn.ranking`); NaN = no evidence."""
        return rank_scores(self, users)

    def explain(self, recs: pl.DataFrame, n: int = 3) -> pl.DataFrame:
        """``recs`` plus ``because``: for each (user, item) row, the user's rated items that
        contributed most to its ranking score (at most ``n`` ids, largest contribution first;
        user-based: the most contributing neighbour users)."""
        return explain_rows(self, recs, n)

    # -- persistence ----------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        out = {"mu": np.asarray(self.mu_), "bu": self.bu_, "bi": self.bi_, "means": self.means_}
        for name in ("sim", "rank"):
            m = getattr(self, f"{name}_")
            out |= {
                f"{name}_data": m.data,
                f"{name}_indices": m.indices,
                f"{name}_indptr": m.indptr,
            }
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.mu_ = float(arrays["mu"])
        self.bu_, self.bi_, self.means_ = arrays["bu"], arrays["bi"], arrays["means"]
        n = len(self.means_)
        for name in ("sim", "rank"):
            parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
            setattr(self, f"{name}_", sp.csr_matrix(parts, shape=(n, n)))
        self.cache_ = {}


class KNNBasic(KNNBase):
    """``r_hat_ui = sum_j sim(i, j) r_uj / sum_j sim(i, j)`` over ``N^k_u(i)`` (Surprise's
    KNNBasic; see the module docstring). Too few neighbours: the global mean."""

    def _deviation(self, nb, r, y):
        return r

    def _combine(self, x, y, users, items, sum_sim, sum_dev, enough):
        out = np.full(len(x), self.mu_)
        out[enough] = sum_dev[enough] / sum_sim[enough]
        return out


class KNNWithMeans(KNNBase):
    """``r_hat_ui = mu_i + sum_j sim(i, j) (r_uj - mu_j) / sum_j sim(i, j)`` (Surprise's
    KNNWithMeans; user-based: user means). Too few neighbours: ``mu_i``."""

    def _deviation(self, nb, r, y):
        return r - self.means_[nb]

    def _combine(self, x, y, users, items, sum_sim, sum_dev, enough):
        out = self.means_[x].copy()
        out[enough] += sum_dev[enough] / sum_sim[enough]
        return out


class KNNBaseline(KNNBase):
    """``r_hat_ui = b_ui + sum_j sim(i, j) (r_uj - b_uj) / sum_j sim(i, j)`` (Surprise's
    KNNBaseline; best with ``pearson_baseline``). Too few neighbours: ``b_ui``."""

    uses_baselines = True

    def _unknown(self, users, items):
        return baseline_estimates(self.bu_, self.bi_, self.mu_, users, items)

    def _deviation(self, nb, r, y):
        b_x, b_y = self._switch(self.bu_, self.bi_)
        return r - ((self.mu_ + b_x[nb]) + b_y[y])

    def _combine(self, x, y, users, items, sum_sim, sum_dev, enough):
        out = (self.mu_ + self.bu_[users]) + self.bi_[items]
        out[enough] += sum_dev[enough] / sum_sim[enough]
        return out


def _check_all_pairs_fit(x: sp.csr_matrix) -> None:
    """Keeping every pair (``max_neighbors=None``) stores up to min(n^2, co-rating pairs)
    similarities at 12 bytes each, twice while building: refuse early if that cannot fit."""
    n = x.shape[0]
    per_rater = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)  # rows per column
    pairs = min(float(n) * n, float(np.sum(per_rater * (per_rater - 1))))
    require_memory(
        24.0 * pairs,
        "max_neighbors=None (keep every similarity)",
        f"set max_neighbors (e.g. 100) for {n:,} rows",
    )


def _sorted(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m)
    m.sort_indices()
    return m


def _row_means(x: sp.csr_matrix) -> np.ndarray:
    """Mean of each row's ratings (every row has at least one: ids come from the ratings)."""
    counts = np.diff(x.indptr)
    rows = np.repeat(np.arange(x.shape[0]), counts)
    return np.bincount(rows, weights=x.data, minlength=x.shape[0]) / np.maximum(counts, 1)
