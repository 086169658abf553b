"""The Dagster code location (thin wiring around recsys_core).

Before anything imports polars: its allocator (jemalloc, configured by ``_RJEM_MALLOC_CONF``,
to which polars prepends its own defaults) purges the pages it freed half a second later
(``muzzy_decay_ms:0``) instead of first marking them lazily free (``MADV_FREE``), which keeps
them resident until the kernel runs short: a night runs its steps one after another in one
process, and a finished step's pages should not count while the next one allocates
(``docs/benchmarks.md``, "The 25M night within 6 minutes and 6 GiB"). An operator's own
setting of the variable wins.
"""

import os

os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:500,muzzy_decay_ms:0")

from pipeline.definitions import defs as defs
