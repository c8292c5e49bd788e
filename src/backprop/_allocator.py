"""Keep large temporaries in the heap between passes (glibc only): ``bp.tune_allocator()``.

A forward and backward pass creates arrays of a few hundred kB to a few MB and frees them all at
the end. With glibc's default, adaptive settings the freed memory at the top of the heap is returned
to the operating system after every pass, so the next pass page-faults all of it in again: on a
full-batch digits gradient that doubles the time. Raising the mmap and trim thresholds keeps the
memory for reuse (it stays with the process, as any allocator's cache would).

The setting is for the whole process (every library in it allocates through the same malloc) and
cannot be undone, so importing backprop does not make it: a program that owns its process calls
``bp.tune_allocator()`` once (the ``backprop`` command line, the demo and the benchmarks do).

Set ``BACKPROP_MALLOC_TUNING=0`` to make the call leave the allocator alone; glibc's own
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` environment variables, when set, are
respected instead.
"""
from __future__ import annotations

import os
import sys

M_TRIM_THRESHOLD = -1      # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 << 20  # arrays up to 16 MB come from the heap ...
TRIM_THRESHOLD = 128 << 20  # ... and up to 128 MB of freed heap is kept for the next pass

#: the result of the last ``tune()`` call, None before any
TUNED: bool | None = None


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, unless the user opted out.

    Returns
    -------
    bool
        True if the thresholds were set; False on other platforms, with ``BACKPROP_MALLOC_TUNING=0``, or
        when glibc's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` are set.

    Examples
    --------
    >>> import backprop as bp
    >>> bp.tune_allocator() in (True, False)
    True
    """
    global TUNED
    TUNED = _tune()
    return TUNED


def _tune() -> bool:
    if os.environ.get("BACKPROP_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
