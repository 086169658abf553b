"""The hybrid's published lists do not change under refactoring: a digest stored before it."""

import hashlib

import numpy as np
import polars as pl

from recsys_core import Hybrid
from recsys_core.data.synthetic import generate_ratings

LISTS_DIGEST = "a6b9b294bda4b2e995338587a97e7ddf58a64636996f7eda7bf84f26566dc239"
"""``digest`` of the default hybrid's (``tune=False``) top-10 on ``generate_ratings(200, 150,
6000, seed=3)``, computed at commit 422723a, before ranking became one chain (the component
``svd`` was renamed ``pure_svd`` since; no row of this data has either as its source)."""


def digest(recs: pl.DataFrame) -> str:
    """SHA-256 of the raw bytes of ids, ranks and scores, the sources and the explanations."""
    h = hashlib.sha256()
    for column in ("user_id", "rank", "item_id", "score"):
        h.update(np.ascontiguousarray(recs.get_column(column).to_numpy()).tobytes())
    h.update("\n".join(recs.get_column("source").to_list()).encode())
    h.update(repr(recs.get_column("explanation").to_list()).encode())
    return h.hexdigest()


def test_default_hybrid_lists_are_bit_identical_to_the_stored_digest():
    ratings = generate_ratings(200, 150, 6000, seed=3)
    recs = Hybrid(tune=False).fit(ratings).recommend_explained(10)
    assert recs.height == 2000
    assert digest(recs) == LISTS_DIGEST
