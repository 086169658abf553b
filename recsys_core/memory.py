"""Failing fast when settings ask for more memory than the machine has.

Where a setting decides the size of a large allocation, the code estimates it first and raises
:class:`ConfigError` naming the setting, instead of being killed by the kernel halfway through.
"""

from __future__ import annotations

import os

from recsys_core.errors import ConfigError

GIB = 1 << 30


def available_bytes() -> int:
    """Memory available to new allocations (``MemAvailable``; physical pages as a fallback)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(nbytes: float, setting: str, fix: str) -> None:
    """Raise :class:`ConfigError` if ``nbytes`` exceeds the available memory."""
    available = available_bytes()
    if nbytes > available:
        raise ConfigError(
            f"{setting} needs about {nbytes / GIB:.1f} GiB but {available / GIB:.1f} GiB is "
            f"available; {fix}"
        )


def release_free_memory() -> None:
    """Hand memory the process freed back to the operating system (glibc's ``malloc_trim``).

    A long run in one process (the in-process executor) frees each step's arrays, but glibc
    keeps freed heap pages mapped for reuse, so the resident size after a large step stays near
    its peak and adds to the next step's. Trimming between steps returns them; elsewhere
    (another C library, another OS) this does nothing.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
