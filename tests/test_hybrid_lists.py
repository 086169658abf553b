"""The hybrid's published lists do not change under refactoring: digests stored before it.

Since commit 566fcbd^ (the EASE + iALS hybrid) two things changed on purpose, nothing else:

- ``source`` names the kept component with the largest weighted z-score of the row (it was
  ``hybrid`` whenever several components scored the item);
- the fallback's rows (cold users, fills) carry the fallback's z-score over the user's
  candidates, capped at the row above (they were raw rating counts), so every score is in one
  unit.

So with the old components configured explicitly and tuning off, the users, ranks, items and
explanations are bit-identical to the pre-change lists, and so are the component rows' scores.
"""

import hashlib

import numpy as np
import polars as pl

from recsys_core import Hybrid
from recsys_core.data.synthetic import generate_ratings
from recsys_core.ranking.blend import zscore_rows
from recsys_core.settings import hybrid_params, resolve

OLD_DEFAULT = {
    "item_knn": {"model": "KNNWithMeans", "params": {"k": 40}},
    "pure_svd": {"model": "PureSVD", "params": {}},
    "popularity": {"model": "Popularity", "params": {}},
}
"""The hybrid's default components before EASE and iALS (popularity blended as a component)."""

LISTS_DIGEST = "2c8beef0e7697af2123e66100e8912a88d57074eeaa72d814703d8a214f9786e"
"""``digest`` of ``Hybrid(components=OLD_DEFAULT, tune=False)``'s top-10 on
``generate_ratings(200, 150, 6000, seed=3)``. It was ``a6b9b294...c239`` (commit 422723a to
b07afb2); it changed only through the two documented changes (tested below)."""

OLD_DEFAULT_IDS = "c1e02c3d3862469a4840c8aa2ff8d852c6307c31338f97508c8174f6864034ca"
"""``id_digest`` of the same lists at b07afb2 (before the change)."""

OLD_PAIR_IDS = "5c07373ada87b0eea4c31a091bf0ab7b872c40fa6bfa1d20b64a4b067ea5d7dc"
"""``id_digest`` at b07afb2 of ``hybrid.components: [item_knn, pure_svd]``, tuning off."""

OLD_PAIR_COMPONENT_SCORES = "17c20952c81e94697f40960a24bb5c9e54127700069ced222c63c0e27d488b2d"
"""``score_digest`` at b07afb2 of that hybrid's rows not from the fallback (1,950 of 2,000)."""


def digest(recs: pl.DataFrame) -> str:
    """SHA-256 of the raw bytes of ids, ranks and scores, the sources and the explanations."""
    h = hashlib.sha256()
    for column in ("user_id", "rank", "item_id", "score"):
        h.update(np.ascontiguousarray(recs.get_column(column).to_numpy()).tobytes())
    h.update("\n".join(recs.get_column("source").to_list()).encode())
    h.update(repr(recs.get_column("explanation").to_list()).encode())
    return h.hexdigest()


def id_digest(recs: pl.DataFrame) -> str:
    """SHA-256 of users, ranks, items and explanations (no scores, no sources)."""
    h = hashlib.sha256()
    for column in ("user_id", "rank", "item_id"):
        h.update(np.ascontiguousarray(recs.get_column(column).to_numpy()).tobytes())
    h.update(repr(recs.get_column("explanation").to_list()).encode())
    return h.hexdigest()


def score_digest(recs: pl.DataFrame) -> str:
    h = hashlib.sha256()
    for column in ("user_id", "rank", "score"):
        h.update(np.ascontiguousarray(recs.get_column(column).to_numpy()).tobytes())
    return h.hexdigest()


def ratings() -> pl.DataFrame:
    return generate_ratings(200, 150, 6000, seed=3)


def test_old_default_lists_keep_their_items_and_explanations():
    recs = Hybrid(components=OLD_DEFAULT, tune=False).fit(ratings()).recommend_explained(10)
    assert recs.height == 2000
    assert id_digest(recs) == OLD_DEFAULT_IDS
    assert "hybrid" not in set(recs["source"])
    assert digest(recs) == LISTS_DIGEST


def test_old_pair_from_settings_changes_only_the_fallback_rows_scores_and_the_source():
    s = resolve([("t", {"hybrid": {"components": ["item_knn", "pure_svd"], "tune": False}})])
    model = Hybrid(**hybrid_params(s)).fit(ratings())
    recs = model.recommend_explained(10)
    assert id_digest(recs) == OLD_PAIR_IDS
    fallback = recs.filter(pl.col("source") == "popularity")
    assert fallback.height == 50  # 5 cold-start users
    assert score_digest(recs.filter(pl.col("source") != "popularity")) == OLD_PAIR_COMPONENT_SCORES
    assert set(recs["source"]) == {"item_knn", "pure_svd", "popularity"}
    # the cold users' rows: popularity z-scored over their candidates, not rating counts
    users = model.data.users.index_of(fallback["user_id"].unique(maintain_order=True))
    z = zscore_rows(model.fallback_.score_users(users), model.unavailable(users))
    rows = np.repeat(np.arange(len(users)), 10)
    items = model.data.items.index_of(fallback["item_id"])
    np.testing.assert_array_equal(fallback["score"].to_numpy(), z[rows, items])
