"""Shared fixtures: small seeded rating frames, guarded against mutation by tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k" / "u.data"
SMOKE = {
    "publish": {"min_lift": 0.0},
    "hybrid": {"grids": {"ease": {"reg": [100.0, 400.0]}, "ials": {"reg": [30.0]}}},
}
"""Settings for pipeline smoke tests on random ratings. Uniform random data has no taste to
learn, so the hybrid cannot beat popularity by the default publish.min_lift (1.5), nor at all:
the relative gate is off (0; the gate's own tests set it back). The nightly grids are narrowed
to a few candidates: the selection itself is tested in the library tests, and the full grids
would cost ~5 s in each of the suite's ~30 nights."""
SMOKE_YAML = (
    "publish: {min_lift: 0.0}\n"
    "hybrid: {grids: {ease: {reg: [100.0, 400.0]}, ials: {reg: [30.0]}}}\n"
)


def random_ratings(
    n_users: int = 30,
    n_items: int = 40,
    density: float = 0.3,
    seed: int = 0,
    string_ids: bool = False,
) -> pl.DataFrame:
    """A small random ratings frame (integer ratings 1..5, distinct pairs, timestamps)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # every user rates >= 1
    u, i = np.nonzero(mask)
    frame = pl.DataFrame(
        {
            "user_id": u + 1,
            "item_id": i + 101,
            "rating": rng.integers(1, 6, len(u)).astype(np.float64),
            "timestamp": rng.integers(1_000_000, 2_000_000, len(u)),
        }
    )
    if string_ids:
        frame = frame.with_columns(
            ("u" + pl.col("user_id").cast(pl.String)).alias("user_id"),
            ("i" + pl.col("item_id").cast(pl.String)).alias("item_id"),
        )
    return frame


@pytest.fixture
def ratings() -> Iterator[pl.DataFrame]:
    """A small random ratings frame; the test fails if it mutates it."""
    frame = random_ratings()
    snapshot = frame.clone()
    yield frame
    assert frame.equals(snapshot), "test mutated the shared ratings fixture"


@pytest.fixture(scope="session")
def ml100k() -> pl.DataFrame:
    """MovieLens 100k as a ratings frame (skips when the shared data is absent)."""
    if not ML100K.exists():
        pytest.skip("ml-100k not available")
    from recsys_core.data.validate import ingest

    return ingest([ML100K]).ratings
