"""Independent pieces of work on one thread per CPU, results in order.

The night's parallel loops (the selection's components, the rating blend's components, the
ranker's blocks of users and items) are NumPy, LAPACK and ``implicit`` work that releases the
GIL, so threads use the cores without copying the data into processes. Each piece depends only
on its own input, so the results are the ones a plain loop gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits

__all__ = ["ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], threads: int | None = None
) -> Iterator[R]:
    """``fn`` over ``items`` on ``threads`` threads (None: one per CPU; never more than there
    are items), yielded in ``items`` order whatever finishes first. With more than one thread,
    BLAS runs one thread per caller inside (a model's own limit then restores one, not the
    environment's count while another thread still computes); with one, it is a plain loop."""
    items = list(items)
    workers = max(1, min(threads or os.cpu_count() or 1, len(items)))
    if workers == 1:
        yield from map(fn, items)
        return
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        yield from pool.map(fn, items)
