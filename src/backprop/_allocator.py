"""Keep large temporaries in the heap between passes (glibc only).

A forward and backward pass creates arrays of a few hundred kB to a few MB and frees them all at
the end. With glibc's default, adaptive settings the freed memory at the top of the heap is returned
to the operating system after every pass, so the next pass page-faults all of it in again: on a
full-batch digits gradient that doubles the time. Raising the mmap and trim thresholds keeps the
memory for reuse (it stays with the process, as any allocator's cache would).

Set ``BACKPROP_MALLOC_TUNING=0`` to leave the allocator alone; glibc's own ``MALLOC_MMAP_THRESHOLD_``
and ``MALLOC_TRIM_THRESHOLD_`` environment variables, when set, are respected instead.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1      # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 << 20  # arrays up to 16 MB come from the heap ...
TRIM_THRESHOLD = 128 << 20  # ... and up to 128 MB of freed heap is kept for the next pass


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds unless the user opted out; True if they were set."""
    if os.environ.get("BACKPROP_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


TUNED = tune()
