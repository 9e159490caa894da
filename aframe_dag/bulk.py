"""Bulk building of many small objects (a plan, its rendered files, a parsed DAG) without the cyclic collector."""

from __future__ import annotations

import functools
import gc


def without_cyclic_gc(function):
    """Run function with the cyclic collector paused (reference counting still frees everything).

    A 100k-node plan allocates millions of tuples and strings that form no cycles; the collector's repeated
    passes over them cost a fifth of the build and made its time grow faster than the node count (BENCHMARKS.md).
    """

    @functools.wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused
