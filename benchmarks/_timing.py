"""Timing helpers shared by the benchmark scripts: paired medians and waiting for an idle machine."""
from __future__ import annotations

import os
import sys
import time

import numpy as np


def paired_median_times(fns, repeat, block=25, pause=0.05, warm=3):
    """Median time of each function, timed in alternating blocks of ``block`` calls.

    Blocks alternate so that a drifting machine speed affects every function alike; within a block the
    calls run back to back, and a pause between blocks lets the other library's thread pool go idle
    (thread pools that spin-wait would otherwise steal the cores). The first ``warm`` calls of a block
    are warm-up and are not timed. ``repeat`` is the number of timed calls per function (at least one
    block); with ``block=1, warm=0`` slow functions (whole epochs, whole fits) alternate call by call.
    """
    times = [[] for _ in fns]
    for _ in range(max(1, repeat // block)):
        for fn, ts in zip(fns, times):
            time.sleep(pause)
            for k in range(block + warm):
                t0 = time.perf_counter()
                fn()
                if k >= warm:
                    ts.append(time.perf_counter() - t0)
    return [float(np.median(ts)) for ts in times]


def wait_for_idle(max_load, timeout, poll=5.0, out=sys.stdout):
    """Wait until the 1-minute load average is below ``max_load``, at most ``timeout`` seconds.

    Returns True when the machine became idle; otherwise prints a warning (the figures that follow
    are then taken on a busy machine) and returns False. Without ``os.getloadavg`` (not on every
    platform) it returns False at once, with the warning.
    """
    if not hasattr(os, "getloadavg"):
        print("warning: this platform reports no load average; cannot wait for an idle machine", file=out)
        return False
    t_end = time.monotonic() + max(0.0, timeout)
    load = os.getloadavg()[0]
    if load >= max_load:
        print(f"waiting up to {timeout:.0f} s for the 1-minute load average ({load:.2f}) to drop below "
              f"{max_load:g} ...", file=out, flush=True)
    while load >= max_load and time.monotonic() < t_end:
        time.sleep(min(poll, max(0.0, t_end - time.monotonic())))
        load = os.getloadavg()[0]
    if load >= max_load:
        print(f"WARNING: the machine is busy (1-minute load average {load:.2f} >= {max_load:g} after "
              f"waiting {timeout:.0f} s): the times below are from a loaded machine and the ratios are "
              "not reliable", file=out, flush=True)
        return False
    print(f"1-minute load average {load:.2f} (< {max_load:g}): machine idle", file=out, flush=True)
    return True
