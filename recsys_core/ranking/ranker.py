"""The hybrid ranker: blended scores -> top-N with cold-item slots and the fallback's fill.

For each user, in order:

1. *cold-start user* (fewer than ``cold_user_ratings`` training ratings): the fallback list only;
2. the best blended items, leaving ``cold_item_slots`` slots for *cold items* (fewer than
   ``cold_item_ratings`` training ratings), which compete only among themselves so a new item
   can appear; slots no cold item can fill go back to the blended items;
3. slots still empty (items no component could score) are filled from the fallback scores.

Seen items are never candidates; no item appears twice; a user gets ``min(n, candidates)`` rows.
Scores are the blended z-scores (the fallback's own scores for cold-start users); a row after the
blended part (cold-item slot, fallback fill) is capped at the score of the row above, so scores
never increase down a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsys_core.ranking.topn import top_k_rows

FALLBACK = -1
"""Source code of rows from the fallback; codes >= 0 index the components, see ``BlockLists``."""


@dataclass(frozen=True)
class BlockLists:
    """Top-N of one block in index space; ``source`` is a component index, ``len(components)``
    for a blend of several, or :data:`FALLBACK`."""

    rows: np.ndarray
    ranks: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    source: np.ndarray


def _per_row_count(rows: np.ndarray, b: int) -> np.ndarray:
    return np.bincount(rows, minlength=b)


def _rank_in_row(rows: np.ndarray, b: int) -> np.ndarray:
    starts = np.searchsorted(rows, np.arange(b))
    return np.arange(len(rows)) - starts[rows]


SourceOf = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Maps chosen (rows, items) of a block to their source codes (computed only where needed)."""


FallbackRows = Callable[[np.ndarray], np.ndarray]
"""Maps block row positions to the fallback's scores of those rows (len(rows) x m), so that only
the rows that need the fallback are ever scored."""


def rank_block(
    blended: np.ndarray,
    source_of: np.ndarray | SourceOf,
    fallback: np.ndarray | FallbackRows,
    seen: np.ndarray,
    cold_users: np.ndarray,
    cold_items: np.ndarray,
    n: int,
    cold_item_slots: int,
) -> BlockLists:
    """Lists for one block of users (all arrays b x m except the 1-D masks; none is modified).

    ``source_of`` is a b x m array of source codes or a function of (rows, items); ``fallback``
    a b x m array or a function of row positions (:data:`FallbackRows`). One copy of
    ``blended`` is made; the fallback is read only for the rows that have slots left.
    """
    b = blended.shape[0]
    at = source_of if callable(source_of) else (lambda r, c: source_of[r, c])
    usable = np.where(seen, -np.inf, blended)
    usable[cold_users] = -np.inf
    cold_cols = np.flatnonzero(cold_items)
    slots = min(cold_item_slots, n) if len(cold_cols) else 0
    cr = cc = np.empty(0, dtype=np.int64)
    cv = np.empty(0, dtype=usable.dtype)
    if slots:
        cr, cc, cv = top_k_rows(usable[:, cold_cols], slots)
        cc = cold_cols[cc]
        usable[:, cold_cols] = -np.inf
    wr, wc, wv = top_k_rows(usable, n)
    del usable
    n_cold = _per_row_count(cr, b)
    keep = _rank_in_row(wr, b) < n - n_cold[wr]
    wr, wc, wv = wr[keep], wc[keep], wv[keep]
    n_warm = _per_row_count(wr, b)
    fr, fc, fv = _fill(fallback, seen, n - n_warm - n_cold, (wr, wc), (cr, cc))
    rows = np.concatenate([wr, cr, fr])
    ranks = np.concatenate(
        [
            _rank_in_row(wr, b) + 1,
            n_warm[cr] + _rank_in_row(cr, b) + 1,
            n_warm[fr] + n_cold[fr] + _rank_in_row(fr, b) + 1,
        ]
    )
    items = np.concatenate([wc, cc, fc])
    source = np.concatenate([at(wr, wc), at(cr, cc), np.full(len(fr), FALLBACK)])
    order = np.lexsort((ranks, rows))
    rows, ranks, items, source = rows[order], ranks[order], items[order], source[order]
    scores = np.concatenate([wv, cv, fv]).astype(np.float64)[order]
    return BlockLists(rows, ranks, items, _capped(scores, ranks), source)


def _fill(
    fallback: np.ndarray | FallbackRows,
    seen: np.ndarray,
    need: np.ndarray,
    *taken: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the best ``need`` fallback items neither seen nor ``taken`` (rows, items);
    only the rows that need any are read."""
    which = np.flatnonzero(need > 0)
    empty = np.empty(0, dtype=np.int64)
    if len(which) == 0:
        return empty, empty, np.empty(0)
    rows_of = fallback if callable(fallback) else fallback.__getitem__
    fb = np.where(seen[which], -np.inf, rows_of(which))
    slot = np.full(len(need), -1)
    slot[which] = np.arange(len(which))
    for tr, tc in taken:
        there = slot[tr] >= 0
        fb[slot[tr[there]], tc[there]] = -np.inf
    fr, fc, fv = top_k_rows(fb, int(need.max()))
    keep = _rank_in_row(fr, len(which)) < need[which][fr]
    return which[fr[keep]], fc[keep], fv[keep]


def _capped(scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Scores with each row capped at the row above, so they never increase down a list
    (rows sorted by user then rank, ranks 1..k contiguous)."""
    scores = scores.copy()
    for rank in range(2, int(ranks.max(initial=1)) + 1):
        at = np.flatnonzero(ranks == rank)
        scores[at] = np.minimum(scores[at], scores[at - 1])
    return scores
