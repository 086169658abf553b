"""Block-wise top-N against a brute-force full sort on small random data."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_core.ranking.topn import block_topn, top_k_rows


def brute_force(scores: np.ndarray, seen: np.ndarray, n: int):
    rows = []
    for u in range(scores.shape[0]):
        cands = [(-scores[u, i], i) for i in range(scores.shape[1]) if not seen[u, i]]
        cands = [c for c in cands if np.isfinite(c[0])]
        for rank, (neg, i) in enumerate(sorted(cands)[:n], start=1):
            rows.append((u, rank, i, -neg))
    return rows


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("block_size", [1, 3, 100])
def test_block_topn_equals_full_sort(seed, block_size):
    rng = np.random.default_rng(seed)
    n_users, n_items, n = 13, 17, 5
    scores = rng.integers(0, 4, (n_users, n_items)).astype(float)  # many ties
    scores[rng.random(scores.shape) < 0.1] = np.nan  # cannot score
    seen = rng.random((n_users, n_items)) < 0.5
    seen[0] = True  # a user who has seen everything gets no rows
    seen[1, :-2] = True  # a user with fewer candidates than n
    top = block_topn(
        lambda b: scores[b].copy(), sp.csr_matrix(seen), np.arange(n_users), n, block_size
    )
    got = list(zip(top.users, top.ranks, top.items, top.scores, strict=True))
    assert got == brute_force(scores, seen, n)


def test_user_subset_keeps_given_order():
    scores = np.arange(12, dtype=float).reshape(3, 4)
    top = block_topn(lambda b: scores[b].copy(), sp.csr_matrix((3, 4)), np.array([2, 0]), 2)
    assert top.users.tolist() == [2, 2, 0, 0]
    assert top.items.tolist() == [3, 2, 3, 2]


def test_top_k_rows_all_minus_inf_row():
    s = np.array([[-np.inf, -np.inf], [1.0, 2.0]])
    rows, cols, vals = top_k_rows(s, 5)
    assert rows.tolist() == [1, 1] and cols.tolist() == [1, 0]
    assert vals.tolist() == [2.0, 1.0]


def oracle_top_k(scores: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """Brute force: each row's finite scores fully sorted by (-score, column), first k."""
    out = []
    for r, row in enumerate(scores):
        cands = sorted((-v, c) for c, v in enumerate(row.tolist()) if np.isfinite(v))
        out += [(r, c, -neg) for neg, c in cands[:k]]
    return out


def tricky_scores(rng: np.random.Generator, b: int, m: int, dtype: type) -> np.ndarray:
    """Few distinct values (many ties), NaN, -inf and +inf, and rows with nothing to rank."""
    scores = rng.integers(-3, 4, (b, m)).astype(dtype)
    scores[rng.random(scores.shape) < 0.15] = np.nan
    scores[rng.random(scores.shape) < 0.15] = -np.inf
    scores[rng.random(scores.shape) < 0.01] = np.inf  # not a score: never returned
    scores[0] = np.nan  # nothing scorable
    scores[1] = -np.inf
    scores[2, 3:] = np.nan  # fewer than k candidates
    if b > 3:
        scores[3] = 1.5  # one value everywhere: the smallest columns win
    return scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(6, 1), (9, 17), (7, 200), (5, 3001)])
@pytest.mark.parametrize("k", [1, 3, 10, 64, 5000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_top_k_rows_equals_oracle(seed, shape, k, dtype):
    scores = tricky_scores(np.random.default_rng(seed), *shape, dtype)
    before = scores.copy()
    rows, cols, vals = top_k_rows(scores, k)
    got = list(zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True))
    assert got == oracle_top_k(scores, k)
    np.testing.assert_array_equal(scores, before)  # the input is not modified


def test_top_k_rows_continuous_scores_against_oracle():
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((20, 5000))
    scores[:, ::7] = -np.inf  # seen
    rows, cols, vals = top_k_rows(scores, 10)
    got = list(zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True))
    assert got == oracle_top_k(scores, 10)
