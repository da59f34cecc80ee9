"""Memory a service keeps for its next batches instead of giving it back to the OS.

A batch of thousands of messages makes hundreds of thousands of objects and buffers, and drops
them when it is written. CPython's small-object allocator gives each arena (1 MiB) back to the OS
as soon as it is empty, and glibc gives back the top of its heap past 128 KiB (and serves blocks
of 128 KiB and more by mmap, unmapped when freed): the next batch then takes it all again, a page
fault and a zeroed page at a time. Measured in the ledger of `./dev bench e2e`: 9,000 faults a
second, 18% of its CPU (this machine is a virtual machine whose free memory goes back to the host,
which makes a fault dearer). `keep(mb)` keeps up to `mb` MiB of each: arenas in a list that
pymalloc takes from first (`_arenas.c`), and glibc's heap untrimmed up to `mb` MiB."""
from __future__ import annotations

import ctypes
import platform
from typing import Any

from rentflow_memory import _arenas

__all__ = ["keep", "stats"]

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
INT_MAX = 2**31 - 1
MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its sliding threshold on 64 bits (HEAP_MAX_SIZE / 2)

_heap_kept = 0


def keep(mb: int) -> None:
    """Keeps up to `mb` MiB of pymalloc's arenas, and under glibc up to `mb` MiB (2 GiB at most) of
    free heap, with blocks under 32 MiB served from the heap rather than mapped and unmapped each
    time. 0 leaves CPython's and glibc's behaviour as it is (or restores it for the arenas)."""
    global _heap_kept
    if mb < 0:
        raise ValueError("keep: mb cannot be negative")
    _arenas.keep(mb * 2**20)
    if mb and platform.libc_ver()[0] == "glibc":
        libc = ctypes.CDLL(None)
        trim = min(mb * 2**20, INT_MAX)  # mallopt takes a C int
        if libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, trim):
            _heap_kept = trim // 2**20


def stats() -> dict[str, Any]:
    """Arenas kept now (and the interpreter's stack chunks, which pymalloc's arena allocator serves
    too): how many and their bytes, the capacity, how many were handed out again and given back to
    the OS; and the free heap glibc keeps (MiB: the setting, or glibc's ceiling below it)."""
    return {**_arenas.stats(), "heap_kept_mb": _heap_kept}
