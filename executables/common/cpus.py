"""How many CPUs a node may use: what it asked its batch system for, not every core of the machine."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may use (its affinity mask), capped by ``$OMP_NUM_THREADS`` when that is a positive int.

    The plan sets ``OMP_NUM_THREADS`` = ``request_cpus`` in every node's environment, so a node uses what it asked
    for under HTCondor and the local executor alike.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        count = min(count, int(threads))
    return max(1, count)
