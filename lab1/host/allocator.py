"""glibc's allocator, tuned so a CPU training step does not page-fault its memory back in."""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger("lab1.host.allocator")

# glibc mallopt parameters (malloc.h) and the values keep_heap_mapped sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling on 64-bit: larger blocks are always mmapped
_TRIM_THRESHOLD = 256 << 20
_heap_kept: bool | None = None  # the outcome of the first call: it is process-wide


def glibc() -> bool:
    """Whether this process runs on glibc (Linux's usual C library; not macOS, Windows, musl)."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_heap_mapped() -> bool:
    """Stop glibc handing the training step's freed memory back to the OS (process-wide, once).

    Every CPU step allocates and frees the same large temporaries: activations of up to 9.4 MB
    at batch 64, Adadelta's 4.7 MB temporaries for fc1's weight. Depending on the allocation
    history, glibc serves them by mmap or trims them off the heap when freed, and the next step
    page-faults them back in: measured 2,300 minor faults a step at batch 1 and 4,500-6,500 at
    batch 64, over a quarter of the CPU time at batch 1 spent in the kernel. With the mmap
    threshold at its 32 MiB ceiling and trimming above 256 MiB only, they stay mapped: 0 faults,
    131 → 215 images/s at batch 1 and 1,274 → 1,546 at batch 64 (same script, run twice). The
    cost: freed memory below those sizes is kept for reuse, so RSS stays at its peak.
    Returns whether the setting is in force (False where the C library is not glibc).
    """
    global _heap_kept
    if _heap_kept is None:
        _heap_kept = False
        if glibc():
            try:
                libc = ctypes.CDLL("libc.so.6")
                _heap_kept = (
                    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
                    and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
                )
            except (OSError, AttributeError) as exc:
                log.info("could not tune glibc's allocator: %s", exc)
    return _heap_kept
