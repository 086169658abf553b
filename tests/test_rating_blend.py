"""RatingBlend: contract, and stacking is no worse than its best component on held-out data."""

from recsys_core.data.split import random_split
from recsys_core.data.synthetic import generate_ratings
from recsys_core.evaluation.metrics import rmse
from recsys_core.hybrid.model import build
from recsys_core.hybrid.rating_blend import RatingBlend
from tests.contract import ModelContract

SMALL = {
    "svd": {"model": "SVD", "params": {"n_factors": 4}},
    "knn": {"model": "KNNBaseline", "params": {"k": 10}},
}


class TestRatingBlendContract(ModelContract):
    @staticmethod
    def make(**overrides):
        return RatingBlend(**{"components": SMALL, **overrides})


def test_stacking_beats_or_matches_the_best_component():
    data = generate_ratings(300, 200, 12_000, seed=11)
    split = random_split(data, 0.2, random_state=3)
    truth = split.test["rating"].to_numpy()
    blend = RatingBlend(components=SMALL).fit(split.train)
    single = [rmse(truth, build(s).fit(split.train).predict(split.test)) for s in SMALL.values()]
    assert rmse(truth, blend.predict(split.test)) <= min(single) + 1e-3
