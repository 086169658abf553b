"""Progress of long loops, logged at INFO: share done, rate and expected finish.

A step that can run for minutes (ranking every user, a hyperparameter search) reports through
:class:`Progress` at most every ``every`` seconds, so a long step is never silent and a short one
prints nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("recsys_core.progress")


class Progress:
    """Counts ``done`` out of ``total`` units of ``what``; logs when ``every`` seconds passed."""

    def __init__(
        self,
        total: int,
        what: str,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.what, self.every, self.clock = max(int(total), 0), what, every, clock
        self.start = self.last = clock()
        self.done = 0

    def update(self, done: int) -> str | None:
        """Record ``done`` units finished; returns (and logs) a line when one is due."""
        self.done = done
        now = self.clock()
        if now - self.last < self.every or self.total == 0:
            return None
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else float("inf")
        line = (
            f"{self.what}: {done:,} of {self.total:,} ({done / self.total:.0%}), "
            f"{rate:,.0f}/s, about {left:,.0f} s left"
        )
        log.info(line)
        return line
