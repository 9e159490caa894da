"""The cyclic collector is paused only while a bulk builder runs, and left as the caller had it."""

import gc

import pytest

from aframe_dag.bulk import without_cyclic_gc


@without_cyclic_gc
def builder(seen: list, fail: bool = False) -> str:
    seen.append(gc.isenabled())
    if fail:
        raise ValueError("broken input")
    return "built"


def test_paused_inside_and_restored_after():
    seen = []
    assert builder(seen) == "built" and seen == [False] and gc.isenabled()
    with pytest.raises(ValueError):
        builder(seen, fail=True)
    assert gc.isenabled()


def test_a_caller_that_paused_it_keeps_it_paused():
    gc.disable()
    try:
        builder([])
        assert not gc.isenabled()
    finally:
        gc.enable()
