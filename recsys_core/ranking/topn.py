"""The top-N ranker: score a block of users, mask what they rated, partial top-k.

The one ranker of every model: :func:`block_topn` takes a scorer
(:mod:`recsys_core.ranking.scorer`), masks the block's seen items
(:mod:`recsys_core.ranking.candidates`) and keeps the ``n`` best with :func:`top_k_rows`; the
hybrid's ranker (:mod:`recsys_core.ranking.ranker`) is built on the same :func:`top_k_rows`.

Ranking rule (deterministic): higher score first; equal scores by smaller item index (= smaller
raw item id). Scores that are NaN or -inf mean "cannot score" and are never recommended, so a
user gets ``min(n, number of scorable unseen items)`` rows and never a sentinel row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from recsys_core.ranking.candidates import mask_seen
from recsys_core.ranking.scorer import ScoreBlock
from recsys_core.threads import ordered_map

SCORE_BUDGET = 1 << 21
"""Scores held at once per block (2M float64 = 16 MiB), whatever the catalogue size: small
enough that a block's scores stay in cache between the product and the top-k pass (measured in
``docs/benchmarks.md``, "ranking/topn")."""

ROW_MULTIPLE = 16
"""Blocks larger than this are a multiple of it: BLAS products run full row tiles (the MF
models pad a block to a multiple of 16 rows, so 35 users would cost 48)."""


@dataclass(frozen=True)
class TopN:
    """Top-N lists in index space: parallel arrays ordered by user (as given), then rank."""

    users: np.ndarray
    ranks: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> TopN:
        """One TopN from per-block ``(users, ranks, items, scores)`` in order (empty: no rows);
        indices as int64, scores as float64."""
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return cls(empty, empty, empty, np.empty(0, dtype=np.float64))
        u, r, i, s = (np.concatenate(col) for col in zip(*parts, strict=True))
        return cls(
            u.astype(np.int64, copy=False),
            r.astype(np.int64, copy=False),
            i.astype(np.int64, copy=False),
            s.astype(np.float64, copy=False),
        )


def auto_block_size(n_items: int, budget: int = SCORE_BUDGET) -> int:
    """Users per block so that one block of scores holds about ``budget`` values (rounded down
    to a multiple of :data:`ROW_MULTIPLE` when larger)."""
    size = max(1, budget // max(n_items, 1))
    return size - size % ROW_MULTIPLE if size > ROW_MULTIPLE else size


def user_blocks(users: np.ndarray, block_size: int) -> Iterator[np.ndarray]:
    """Consecutive slices of ``users`` of at most ``block_size``."""
    for start in range(0, len(users), block_size):
        yield users[start : start + block_size]


T = TypeVar("T")


def map_blocks(
    fn: Callable[[np.ndarray], T],
    users: np.ndarray,
    block_size: int,
    threads: int | None = None,
    on_done: Callable[[int], object] | None = None,
) -> list[T]:
    """``[fn(block) for block in user_blocks(users, block_size)]``, run on ``threads`` threads
    (None: one per CPU), results in block order.

    A block's result depends only on its users (products are padded to full row tiles,
    ``ROW_MULTIPLE``), so the results are the same bits on any number of threads
    (:func:`recsys_core.threads.ordered_map`). ``on_done(users done)`` is called from this
    thread as blocks finish, in order (progress).
    """
    blocks = list(user_blocks(users, block_size))
    done, out = 0, []
    for block, result in zip(blocks, ordered_map(fn, blocks, threads), strict=True):
        out.append(result)
        done += len(block)
        if on_done is not None:
            on_done(done)
    return out


GROUP = 64
"""Columns per group in :func:`top_k_rows` (one group maximum per 64 scores)."""


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the ``k`` best finite scores: (row, col, score), ordered by row then rank.

    One pass over ``scores`` (not modified): the columns are cut into ``G >= k`` groups and each
    group's maximum taken (``np.fmax.reduceat``, NaN ignored). The ``k``-th largest of a row's
    ``G`` group maxima is a lower bound ``t`` of its ``k``-th best score (``k`` distinct groups
    each hold a score ``>= t``), so every score in the top ``k`` lies in a group whose maximum
    is ``>= t``. Only those few groups are read again; their scores ``>= t`` are sorted by
    (-score, column) and cut at ``k``. Exact, ties included; a row whose bound is -inf (fewer
    than ``k`` finite scores) reads all its groups that hold a finite score (none for a row of
    a cold-start user the hybrid set to -inf). NaN and +-inf are never returned.
    """
    b, m = scores.shape
    k = min(k, m)
    if k == 0 or b == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=scores.dtype)
    size = max(1, min(GROUP, m // k))
    starts = np.arange(0, m, size)
    with np.errstate(invalid="ignore"):
        gmax = np.fmax.reduceat(scores, starts, axis=1)  # NaN only for an all-NaN group
    if np.isposinf(gmax).any():  # +inf is not a score either: drop it first (rare, one copy)
        return top_k_rows(np.where(np.isposinf(scores), -np.inf, scores), k)
    gmax[np.isnan(gmax)] = -np.inf
    bound = np.partition(gmax, len(starts) - k, axis=1)[:, len(starts) - k]
    rows, groups = np.nonzero((gmax >= bound[:, None]) & (gmax > -np.inf))  # skip empty groups
    cols = groups[:, None] * size + np.arange(size)
    inside = cols < m
    np.minimum(cols, m - 1, out=cols)
    vals = scores[rows[:, None], cols]
    with np.errstate(invalid="ignore"):
        keep = inside & (vals >= bound[rows, None]) & (vals > -np.inf)  # NaN fails both
    rows = np.broadcast_to(rows[:, None], cols.shape)[keep]
    cols, vals = cols[keep], vals[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    first_k = rank < k
    return rows[first_k], cols[first_k], vals[first_k]


def block_topn(
    score_block: ScoreBlock,
    seen: sp.csr_matrix,
    users: np.ndarray,
    n: int,
    block_size: int | None = None,
) -> TopN:
    """Top-``n`` unseen items for each user index in ``users``, one block of users at a time.

    ``seen`` is the users x items CSR of training interactions (its rows are masked, see
    :mod:`recsys_core.ranking.candidates`); scores come from ``score_block`` (a scorer's
    ``score_users``). Memory is one block of scores, never users x items.
    """
    users = np.asarray(users, dtype=np.int64)
    block_size = block_size or auto_block_size(seen.shape[1])
    parts: list[tuple[np.ndarray, ...]] = []
    for block in user_blocks(users, block_size):
        scores = np.asarray(score_block(block), dtype=np.float64)
        if not scores.flags.writeable:
            scores = scores.copy()
        mask_seen(scores, seen, block)
        rows, cols, vals = top_k_rows(scores, n)
        starts = np.searchsorted(rows, np.arange(len(block)))
        ranks = np.arange(len(rows)) - starts[rows] + 1
        parts.append((block[rows], ranks, cols, vals))
    return TopN.concat(parts)
