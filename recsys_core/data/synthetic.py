"""Deterministic synthetic ratings: latent tastes, long-tail item popularity, timestamps, and a
handful of brand-new users and items with almost no ratings (to exercise cold-start paths).

Model: user u has taste ``p_u ~ N(0, I/f)`` and bias ``b_u ~ N(0, 0.3^2)``; item i has
``q_i ~ N(0, I/f)`` and bias ``b_i`` that grows with its popularity. Which pairs are rated is
drawn from user activity (log-normal) times item popularity (Zipf, exponent ``zipf``); the
rating is ``clip(round(3.5 + b_u + b_i + signal * p_u . q_i + noise), 1, 5)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_core.params import require

T0 = 880_000_000  # unix seconds, late 1997 like MovieLens
DAY = 86_400
CHUNK = 2_000_000


def generate_ratings(
    n_users: int = 943,
    n_items: int = 1682,
    n_ratings: int = 100_000,
    *,
    seed: int = 0,
    n_factors: int = 8,
    zipf: float = 0.9,
    signal: float = 1.5,
    noise: float = 0.6,
    n_new_users: int = 0,
    n_new_items: int = 0,
    span_days: int = 365,
    taste_selection: float = 0.0,
) -> pl.DataFrame:
    """``user_id, item_id, rating, timestamp`` with distinct pairs, ids 1..n (Int64).

    ``n_ratings`` pairs are drawn among the first ``n_users`` x ``n_items``; then
    ``n_new_users`` users (ids after them) get 1-3 ratings each and ``n_new_items`` items
    (ids after them) get 1-3 ratings each, all in the last day of the time span.
    ``taste_selection`` (``beta``): 0 draws which pairs are rated from activity and popularity
    alone; above 0 a drawn pair is kept with probability ``sigmoid(beta * z_ui)``, ``z_ui`` the
    standardised affinity ``sqrt(f) p_u . q_i``, so people mostly rate what suits them (as in
    real data, where a personal model beats popularity).
    """
    require(n_users > 0 and n_items > 0, "n_users/n_items", (n_users, n_items), "> 0")
    require(0 < n_ratings <= n_users * n_items // 2, "n_ratings", n_ratings, "<= half the matrix")
    rng = np.random.default_rng(seed)
    popularity = rng.permutation((np.arange(n_items) + 1.0) ** -zipf)
    activity = rng.lognormal(0.0, 1.0, n_users)
    if taste_selection > 0:
        taste = rng.normal(0, 1 / np.sqrt(n_factors), (n_users + n_new_users, n_factors))
        traits = rng.normal(0, 1 / np.sqrt(n_factors), (n_items + n_new_items, n_factors))
        u, i = _taste_pairs(rng, activity, popularity, n_ratings, taste, traits, taste_selection)
    else:
        u, i = _sample_pairs(rng, activity, popularity, n_ratings)
        taste = rng.normal(0, 1 / np.sqrt(n_factors), (n_users + n_new_users, n_factors))
        traits = rng.normal(0, 1 / np.sqrt(n_factors), (n_items + n_new_items, n_factors))
    rank = np.argsort(np.argsort(-popularity)) / n_items
    b_item = np.concatenate(
        [0.5 - rank + rng.normal(0, 0.3, n_items), rng.normal(0, 0.3, n_new_items)]
    )
    b_user = rng.normal(0, 0.3, n_users + n_new_users)
    start = T0 + rng.integers(0, span_days * DAY // 2, n_users + n_new_users)
    ts = start[u] + rng.integers(0, span_days * DAY // 2, len(u))
    new_u, new_i, new_ts = _cold_start(
        rng, n_users, n_items, n_new_users, n_new_items, popularity, span_days
    )
    u, i, ts = np.concatenate([u, new_u]), np.concatenate([i, new_i]), np.concatenate([ts, new_ts])
    ratings = _ratings(rng, u, i, taste, traits, b_user, b_item, signal, noise)
    frame = pl.DataFrame({"user_id": u + 1, "item_id": i + 1, "rating": ratings, "timestamp": ts})
    return frame.unique(["user_id", "item_id"], keep="first", maintain_order=True).sort(
        ["user_id", "item_id"]
    )


def _sample_pairs(
    rng: np.random.Generator, activity: np.ndarray, popularity: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct (user, item) pairs, users by activity and items by popularity."""
    n_items = len(popularity)
    user_p, item_p = activity / activity.sum(), popularity / popularity.sum()
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n:
        draw = int((n - len(keys)) * 1.3) + 1000
        new = rng.choice(len(activity), draw, p=user_p) * n_items + rng.choice(
            n_items, draw, p=item_p
        )
        merged = np.concatenate([keys, new])
        _, first = np.unique(merged, return_index=True)
        keys = merged[np.sort(first)]
    keys = keys[:n]
    return keys // n_items, keys % n_items


def _taste_pairs(
    rng: np.random.Generator,
    activity: np.ndarray,
    popularity: np.ndarray,
    n: int,
    taste: np.ndarray,
    traits: np.ndarray,
    beta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct pairs drawn as :func:`_sample_pairs` draws them, each kept with
    probability ``sigmoid(beta * z)`` (``z``: the pair's standardised affinity)."""
    scale = np.sqrt(taste.shape[1])
    keep_u, keep_i = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    want = n
    while want > 0:
        u, i = _sample_pairs(rng, activity, popularity, min(3 * want + 1000, len(activity) *
                             len(popularity) // 2))  # fmt: skip
        z = np.einsum("nf,nf->n", taste[u], traits[i]) * scale
        kept = rng.random(len(u)) < 1.0 / (1.0 + np.exp(-beta * z))
        keys = np.concatenate([keep_u * len(popularity) + keep_i,
                               u[kept] * len(popularity) + i[kept]])  # fmt: skip
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)][:n]
        keep_u, keep_i = keys // len(popularity), keys % len(popularity)
        want = n - len(keys)
    return keep_u, keep_i


def _cold_start(
    rng: np.random.Generator,
    n_users: int,
    n_items: int,
    n_new_users: int,
    n_new_items: int,
    popularity: np.ndarray,
    span_days: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratings of brand-new users (on popular items) and of brand-new items (by random users)."""
    top = np.argsort(-popularity)[:50]
    per_user = rng.integers(1, 4, n_new_users)
    users = np.repeat(n_users + np.arange(n_new_users), per_user)
    items = np.concatenate([rng.choice(top, k, replace=False) for k in per_user] or [[]])
    per_item = rng.integers(1, 4, n_new_items)
    new_items = np.repeat(n_items + np.arange(n_new_items), per_item)
    raters = np.concatenate([rng.choice(n_users, k, replace=False) for k in per_item] or [[]])
    u = np.concatenate([users, raters]).astype(np.int64)
    i = np.concatenate([items, new_items]).astype(np.int64)
    ts = T0 + span_days * DAY - rng.integers(0, DAY, len(u))
    return u, i, ts


def _ratings(
    rng: np.random.Generator,
    u: np.ndarray,
    i: np.ndarray,
    taste: np.ndarray,
    traits: np.ndarray,
    b_user: np.ndarray,
    b_item: np.ndarray,
    signal: float,
    noise: float,
) -> np.ndarray:
    """Integer ratings 1..5 for pairs, computed in chunks to bound memory."""
    out = np.empty(len(u), dtype=np.float64)
    for s in range(0, len(u), CHUNK):
        uu, ii = u[s : s + CHUNK], i[s : s + CHUNK]
        affinity = np.einsum("nf,nf->n", taste[uu], traits[ii])
        raw = 3.5 + b_user[uu] + b_item[ii] + signal * affinity + rng.normal(0, noise, len(uu))
        out[s : s + CHUNK] = np.clip(np.rint(raw), 1, 5)
    return out


def demo_ratings(seed: int = 7) -> pl.DataFrame:
    """The built-in demo set: 600 users x 400 items, ~30k ratings, plus 6 new users and items;
    people mostly rate what suits them (``taste_selection=3``), as in real data."""
    return generate_ratings(
        600, 400, 30_000, seed=seed, n_new_users=6, n_new_items=6, taste_selection=3.0
    )
