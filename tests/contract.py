"""The contract every model passes. Subclass :class:`ModelContract` in a ``test_*.py`` module.

It includes the scorer contract (LensKit's ScorerTests idea) every ``score_users`` meets, see
:mod:`recsys_core.ranking.scorer`: shape b x n_items, NaN only where the model cannot score and
never +-inf, a block's rows equal to single-user scores and independent of the block's order,
and no seen item in a top-N (which, for a plain scorer, is the brute-force ranking of its
scores).

class TestPopularityContract(ModelContract):
    @staticmethod
    def make(**overrides): return Popularity(**overrides)
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from recsys_core import ConfigError, NotFittedError, Recommender
from recsys_core.data.ids import IdIndex
from recsys_core.ranking.candidates import seen_mask
from recsys_core.ranking.scorer import Scorer
from tests.conftest import random_ratings


def brute_force_topn(scores: np.ndarray, seen: np.ndarray, n: int) -> list[tuple[int, ...]]:
    """``(row, rank, item)`` of each row's best ``n`` unseen items with a finite score, by
    (-score, item), with an explicit per-row sort: the oracle of the ranking rule."""
    out = []
    for row in range(scores.shape[0]):
        ok = [i for i in range(scores.shape[1]) if not seen[row, i] and np.isfinite(scores[row, i])]
        ranked = sorted(ok, key=lambda i: (-scores[row, i], i))[:n]
        out += [(row, rank, item) for rank, item in enumerate(ranked, start=1)]
    return out


class ModelContract:
    """Shared contract tests; a subclass provides ``make`` (and may tune the class flags)."""

    scores_all_items: ClassVar[bool] = True
    """The model scores every unseen item, so each user gets exactly min(n, candidates)."""

    predicts_ratings: ClassVar[bool] = True
    """``predict`` returns finite rating estimates within the training rating range."""

    finite_scores: ClassVar[bool] = True
    """``score_users`` can score every (user, item): no NaN at all (otherwise NaN marks what
    the model cannot score, e.g. no evidence or, for a blend, an item the user rated)."""

    ranks_by_scores: ClassVar[bool] = True
    """``recommend`` is the plain top-N of ``score_users`` (the hybrid adds fallback and
    cold-start slots on top of its blend)."""

    folds_in: ClassVar[str] = "exact"
    """``for_users`` (the fold-in path): ``"exact"``, a fitted user's own row scores exactly as
    at fit time; ``"solved"``, the user side is re-solved from the row against the fixed item
    side (iALS); ``"no"``, the model cannot fold users in and says so (ConfigError)."""

    @staticmethod
    def make(**overrides) -> Recommender:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def fitted(self, frame: pl.DataFrame | None = None) -> Recommender:
        return self.make().fit(random_ratings() if frame is None else frame)

    def test_fit_returns_self_and_unfitted_raises(self, ratings):
        model = self.make()
        with pytest.raises(NotFittedError):
            model.recommend(5)
        with pytest.raises(NotFittedError):
            model.predict(ratings)
        assert model.fit(ratings) is model

    def test_recommend_invariants(self, ratings):
        n = 7
        recs = self.make().fit(ratings).recommend(n)
        assert recs.columns == ["user_id", "rank", "item_id", "score"]
        seen = recs.join(ratings, on=["user_id", "item_id"], how="inner")
        assert seen.height == 0, "recommended an item the user rated"
        assert recs.select(pl.struct("user_id", "item_id").is_duplicated().any()).item() is False
        assert np.isfinite(recs.get_column("score").to_numpy()).all()
        per_user = recs.group_by("user_id").agg(
            pl.len().alias("n"), pl.col("rank").min().alias("lo"), pl.col("rank").max().alias("hi")
        )
        assert (per_user["lo"] == 1).all() and (per_user["hi"] == per_user["n"]).all()
        scores_sorted = recs.group_by("user_id").agg(pl.col("score").diff().drop_nulls().max())
        assert (scores_sorted["score"].fill_null(0) <= 1e-12).all(), "scores not descending"
        if self.scores_all_items:
            n_items = ratings.get_column("item_id").n_unique()
            rated = ratings.group_by("user_id").agg(pl.len().alias("r"))
            expect = rated.with_columns(
                pl.min_horizontal(pl.lit(n), n_items - pl.col("r")).alias("want")
            )
            got = expect.join(per_user, on="user_id", how="left").fill_null(0)
            assert (got["n"] == got["want"]).all(), "a user got fewer than min(n, candidates)"

    def test_deterministic_and_order_independent(self, ratings):
        a = self.make().fit(ratings)
        b = self.make().fit(ratings.sample(fraction=1.0, shuffle=True, seed=3))
        assert a.recommend(5).equals(b.recommend(5))
        np.testing.assert_array_equal(a.predict(ratings), b.predict(ratings))

    def test_batch_equals_single_user_and_block_size(self, ratings):
        model = self.make().fit(ratings)
        full = model.recommend(5)
        users = full.get_column("user_id").unique().sort().to_list()[:4]
        for user in users:
            single = model.recommend(5, users=[user])
            assert single.equals(full.filter(pl.col("user_id") == user))
        assert model.recommend(5, block_size=3).equals(full)

    def test_predict_shape_and_unknowns(self, ratings):
        model = self.make().fit(ratings)
        pairs = pl.concat(
            [
                ratings.select("user_id", "item_id").head(5),
                pl.DataFrame({"user_id": [10_000, 1], "item_id": [101, 99_999]}),
            ]
        )
        est = model.predict(pairs)
        assert est.shape == (pairs.height,)
        if self.predicts_ratings:
            lo, hi = ratings["rating"].min(), ratings["rating"].max()
            assert np.isfinite(est).all()
            assert ((est >= lo - 1e-9) & (est <= hi + 1e-9)).all()
        assert model.recommend(3, users=[10_000]).height == 0

    def test_save_load_round_trip(self, ratings, tmp_path: Path):
        model = self.make().fit(ratings)
        path = model.save(tmp_path / "model.npz")
        loaded = type(model).load(path)
        assert type(loaded) is type(model)
        assert loaded.params == model.params
        assert loaded.recommend(5).equals(model.recommend(5))
        np.testing.assert_array_equal(loaded.predict(ratings), model.predict(ratings))
        assert Recommender.load(path).recommend(5).equals(model.recommend(5))

    def test_string_ids(self):
        frame = random_ratings(string_ids=True)
        recs = self.make().fit(frame).recommend(3)
        assert recs.schema["user_id"] == pl.String and recs.schema["item_id"] == pl.String
        assert recs.join(frame, on=["user_id", "item_id"], how="inner").height == 0

    # -- the scorer contract --------------------------------------------------------------------
    def test_scores_shape_and_nan_contract(self, ratings):
        model = self.make().fit(ratings)
        assert isinstance(model, Scorer)
        users = np.arange(model.data.n_users)
        scores = np.asarray(model.score_users(users))
        assert scores.shape == (model.data.n_users, model.data.n_items)
        assert scores.dtype.kind == "f"
        assert not np.isinf(scores).any(), "+-inf is not a score: NaN means cannot score"
        if self.finite_scores:
            assert not np.isnan(scores).any(), "NaN where the model can score"
        assert np.isfinite(scores).any(axis=1).all(), "a known user with no score at all"

    def test_block_scores_equal_single_user_scores_in_any_order(self, ratings):
        model = self.make().fit(ratings)
        users = np.array([5, 0, 17, 3, 11, 8])
        block = np.asarray(model.score_users(users))
        for row, user in enumerate(users):
            single = np.asarray(model.score_users(np.array([user])))
            np.testing.assert_array_equal(single[0], block[row])
        order = np.random.default_rng(0).permutation(len(users))
        np.testing.assert_array_equal(np.asarray(model.score_users(users[order])), block[order])

    def test_topn_has_no_seen_item_and_follows_the_scores(self, ratings):
        model = self.make().fit(ratings)
        users = np.arange(model.data.n_users)[::-1].copy()  # any order, as given
        seen = seen_mask(model.data.user_items, users)
        for n in (1, 5, 100):
            top = model.topn_indices(n, model.data.users.raw(users), block_size=4)
            rows = np.searchsorted(-users, -top.users)  # users descending
            assert not seen[rows, top.items].any(), "a seen item in a top-N"
            if self.ranks_by_scores:
                want = brute_force_topn(np.asarray(model.score_users(users)), seen, n)
                got = list(zip(rows.tolist(), top.ranks.tolist(), top.items.tolist(), strict=True))
                assert got == want

    # -- the fold-in path -----------------------------------------------------------------------
    def test_fold_in_scores_rows_with_the_fitted_item_side(self, ratings):
        model = self.make().fit(ratings)
        data, everyone = model.data, np.arange(model.data.n_users)
        if self.folds_in == "no":
            with pytest.raises(ConfigError, match="cannot fold in"):
                model.for_users(data.users, data.user_items)
            return
        before = np.asarray(model.score_users(everyone)).copy()
        if self.folds_in == "exact":
            same = model.for_users(data.users, data.user_items)
            np.testing.assert_array_equal(np.asarray(same.score_users(everyone)), before)
            assert same.recommend(5).equals(model.recommend(5))
        rows = data.user_items[[4, 9]].tolil()  # user 5 with one more rating; a new user
        rows[0, int(np.flatnonzero(rows[0].toarray()[0] == 0)[0])] = 5.0
        rows[1] = 0
        rows[1, [0, 7, 12]] = [4.0, 5.0, 2.0]
        ids = IdIndex(pl.Series("id", [10_001, 10_002]))
        folded = model.for_users(ids, rows.tocsr())
        block = np.asarray(folded.score_users(np.array([0, 1])))
        assert block.shape == (2, data.n_items) and not np.isinf(block).any()
        for r in range(2):  # a row depends on that user's ratings only
            alone = model.for_users(IdIndex(ids.ids[r : r + 1]), rows.tocsr()[r])
            np.testing.assert_array_equal(np.asarray(alone.score_users(np.array([0])))[0], block[r])
        recs = folded.recommend(20)
        rated = set(zip(*rows.nonzero(), strict=True))
        picked = zip(
            ids.index_of(recs["user_id"]), data.items.index_of(recs["item_id"]), strict=True
        )
        assert not rated & set(picked), "a folded-in user was recommended an item they rated"
        np.testing.assert_array_equal(np.asarray(model.score_users(everyone)), before)
