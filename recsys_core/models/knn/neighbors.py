"""Neighbourhoods of (x, y) pairs: gather ``sim(x, x')`` for the x' that rated y, keep the top k.

Vocabulary as in :mod:`recsys_core.models.knn.similarities`: x indexes the rows of the
similarity matrix (items when item-based), y the other side. For a pair (x, y) the candidate
neighbours are the x' with a rating ``r_x'y`` (item-based: the items the user rated); their
similarities are looked up in ``sim[x]``. Work runs in chunks of pairs, sorted by x, so that only
the rows of ``sim`` a chunk needs are made dense (a bounded number at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

DENSE_BUDGET = 1 << 22
"""Dense similarity values held per chunk (rows of ``sim`` x all columns)."""

ENTRY_BUDGET = 1 << 22
"""Candidate neighbours (pair, x') gathered per chunk."""


@dataclass(frozen=True)
class Entries:
    """Candidate neighbours of a chunk of pairs, grouped by pair then by ascending x'.

    ``pairs`` are the positions (in the caller's arrays) of the chunk's pairs; ``seg`` gives
    each entry's pair as a 0-based position within ``pairs``.
    """

    pairs: np.ndarray
    seg: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    sims: np.ndarray

    def subset(self, mask: np.ndarray) -> Entries:
        """Only the entries where ``mask`` holds (every pair kept)."""
        return Entries(
            self.pairs, self.seg[mask], self.cols[mask], self.values[mask], self.sims[mask]
        )


def ragged_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the entries of CSR ``rows`` (concatenated) and each entry's row number."""
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    seg = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(len(seg), dtype=np.int64) - offsets[seg] + starts[seg], seg


def pair_chunks(
    sim: sp.csr_matrix, yx: sp.csr_matrix, x: np.ndarray, y: np.ndarray, positive: bool = True
) -> Iterator[Entries]:
    """Candidate neighbours with their similarity, for every pair ``(x[p], y[p])``, by chunk.

    ``yx`` is the y x x' CSR of ratings (or weights) with sorted indices. With ``positive``,
    entries whose similarity is not positive are dropped (Surprise never counts them).
    """
    n_x = sim.shape[1]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    cum = np.cumsum(np.diff(yx.indptr)[y[order]].astype(np.int64))
    firsts = np.flatnonzero(np.diff(xs, prepend=-1) != 0)  # where each distinct x begins
    max_rows = max(1, DENSE_BUDGET // max(n_x, 1))
    start = 0
    while start < len(order):
        stop = _chunk_stop(cum, firsts, start, max_rows)
        pairs = order[start:stop]
        rows, x_local = np.unique(xs[start:stop], return_inverse=True)
        dense = sim[rows].toarray()
        pos, seg = ragged_positions(yx.indptr, y[pairs])
        cols = yx.indices[pos]
        sims = dense[x_local[seg], cols]
        keep = sims > 0 if positive else np.ones(len(sims), dtype=bool)
        yield Entries(pairs, seg[keep], cols[keep], yx.data[pos][keep], sims[keep])
        start = stop


def _chunk_stop(cum: np.ndarray, firsts: np.ndarray, start: int, max_rows: int) -> int:
    """End of a chunk starting at ``start``: within both the entry and the dense-row budgets."""
    before = cum[start - 1] if start else 0
    by_entries = int(np.searchsorted(cum, before + ENTRY_BUDGET, side="right"))
    group = int(np.searchsorted(firsts, start, side="right")) - 1
    by_rows = int(firsts[group + max_rows]) if group + max_rows < len(firsts) else len(cum)
    return max(start + 1, min(by_entries, by_rows))


def top_k_mask(seg: np.ndarray, sims: np.ndarray, n_seg: int, k: int) -> np.ndarray:
    """Per segment (contiguous, entries in ascending x'), the ``k`` largest ``sims``.

    Ties at the k-th value keep the earlier entries (the smaller x'), as Surprise does when it
    read ratings sorted by user, then item. Runs in linear time: each long segment's k-th value
    comes from a row-wise ``np.partition`` over segments padded to similar lengths.
    """
    counts = np.bincount(seg, minlength=n_seg)
    if counts.max(initial=0) <= k:
        return np.ones(len(seg), dtype=bool)
    kth = np.full(n_seg, -np.inf)
    long = np.flatnonzero(counts > k)
    starts = np.cumsum(counts) - counts
    for group in _groups_by_length(long, counts):
        width = int(counts[group].max())
        pos, row = ragged_positions(np.concatenate(([0], np.cumsum(counts))), group)
        padded = np.full((len(group), width), -np.inf)
        padded[row, pos - starts[group][row]] = sims[pos]
        kth[group] = -np.partition(-padded, k - 1, axis=1)[:, k - 1]
    threshold = kth[seg]
    above = sims > threshold
    tie = sims == threshold
    need = k - np.bincount(seg, weights=above, minlength=n_seg)
    inclusive = np.cumsum(tie)
    tie_rank = inclusive - (inclusive - tie)[starts[seg]]
    return above | (tie & (tie_rank <= need[seg]))


def _groups_by_length(segments: np.ndarray, counts: np.ndarray) -> Iterator[np.ndarray]:
    """Segments sorted by length, in groups whose padded size stays within a budget."""
    ordered = segments[np.argsort(counts[segments], kind="stable")]
    start = 0
    while start < len(ordered):
        width = counts[ordered[start:]]  # non-decreasing
        rows = np.arange(1, len(width) + 1)
        fits = np.flatnonzero(rows * width <= ENTRY_BUDGET)
        stop = start + (int(fits[-1]) + 1 if len(fits) else 1)
        yield ordered[start:stop]
        start = stop
