"""Issue-5 floors on MovieLens 100k (seeded 80/20 split; skipped without the shared data)."""

import pytest

from recsys_core import Hybrid, Popularity
from recsys_core.data.split import random_split
from recsys_core.evaluation.protocol import evaluate, metric
from recsys_core.hybrid.rating_blend import RatingBlend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split(ml100k):
    return random_split(ml100k, 0.2, random_state=42)


def test_hybrid_ndcg_beats_every_part_and_the_floor(split):
    hybrid = Hybrid().fit(split.train)
    ndcg = metric(evaluate(hybrid, split.test, "h"), "h", "ndcg", 10)
    parts = {
        name: metric(evaluate(model, split.test, name), name, "ndcg", 10)
        for name, model in hybrid.components_.items()
    }
    popularity = metric(evaluate(Popularity().fit(split.train), split.test, "p"), "p", "ndcg", 10)
    assert ndcg >= 0.37
    assert all(ndcg > v for v in parts.values()), (ndcg, parts)
    assert ndcg > popularity + 0.15


def test_rating_blend_rmse(split):
    blend = RatingBlend().fit(split.train)
    assert metric(evaluate(blend, split.test, "b"), "b", "rmse", None) <= 0.90
