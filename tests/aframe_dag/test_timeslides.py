"""Livetime and shift arithmetic: the fewest shifts that reach Tb and the injection target, exactly counted."""

import pytest

from aframe_dag.timeslides import Unreachable, bundle, injection_count, injection_times, livetime, plan_branches

FILES = [(1000, 4000), (6000, 3000), (10000, 200)]
SHIFTS = (0, 1)


def test_livetime_loses_the_largest_offset_and_the_psd_burn_in():
    assert livetime(4000, SHIFTS, 0, 64) == 3936
    assert livetime(4000, SHIFTS, 3, 64) == 3933
    assert livetime(4000, (2, 0, 5), 3, 64) == 4000 - 15 - 64


def test_injection_times_are_spaced_inside_the_buffered_span():
    times = injection_times(4000, SHIFTS, 2, 64, spacing=16, buffer=16)
    assert times[0] == 64 + 16
    assert times[-1] <= 4000 - 2 - 16 and times[-1] + 16 > 4000 - 2 - 16
    assert all(b - a == 16 for a, b in zip(times, times[1:], strict=False))



@pytest.mark.parametrize("duration", [100, 127, 128, 129, 4000, 4001])
@pytest.mark.parametrize("index", [0, 1, 7])
def test_injection_count_is_the_length_of_the_times(duration, index):
    for spacing, buffer in [(16, 16), (7.5, 3), (100, 0)]:
        times = injection_times(duration, SHIFTS, index, 64, spacing, buffer)
        assert injection_count(duration, SHIFTS, index, 64, spacing, buffer) == len(times)


def test_fewest_background_shifts_reach_tb():
    branches = plan_branches(FILES, SHIFTS, 64, 2.5, Tb=20000, num_injections=1, spacing=16, buffer=16)
    background = [b for b in branches if b.background]
    shifts = max(b.shift for b in background)
    total = sum(b.livetime for b in background)
    assert total >= 20000
    assert total - sum(b.livetime for b in background if b.shift == shifts) < 20000
    # zero-lag is analysed but never counts toward Tb
    assert {b.shift for b in branches if not b.background} == {0}


def test_injection_shifts_reach_the_accepted_target():
    branches = plan_branches(FILES, SHIFTS, 64, 2.5, Tb=1, num_injections=1000, spacing=16, buffer=16)
    counts = {}
    for b in branches:
        counts[b.shift] = counts.get(b.shift, 0) + b.injections
    assert counts[0] == 0
    assert sum(counts.values()) >= 1000
    assert sum(counts.values()) - counts[max(counts)] < 1000


def test_shifts_planned_for_injections_count_toward_tb_too():
    branches = plan_branches(FILES, SHIFTS, 64, 2.5, Tb=1, num_injections=1000, spacing=16, buffer=16)
    assert max(b.shift for b in branches) > 1  # the injections needed more shifts than Tb did
    assert all(b.background == (b.shift > 0) for b in branches)


def test_files_too_short_for_psd_and_kernel_are_left_out():
    branches = plan_branches([(0, 67), (100, 1000)], SHIFTS, 64, 2.5, Tb=2000, num_injections=1, spacing=16,
                             buffer=0)
    assert {(b.start, b.shift) for b in branches if b.start == 0} == {(0, 0)}  # 67 - 64 = 3 s only unshifted
    assert all(b.livetime >= 2.5 for b in branches)


def test_unreachable_targets_say_so():
    with pytest.raises(Unreachable, match="reached only"):
        plan_branches([(0, 200)], SHIFTS, 64, 2.5, Tb=1e9, num_injections=1, spacing=16, buffer=16)


def test_bundles_cover_every_branch_once_in_order():
    branches = plan_branches(FILES, SHIFTS, 64, 2.5, Tb=50000, num_injections=100, spacing=16, buffer=16)
    groups = bundle(branches, 10000)
    assert [b for group in groups for b in group] == branches
    assert all(sum(b.livetime for b in group) >= 10000 for group in groups[:-1])
    assert all(sum(b.livetime for b in group[:-1]) < 10000 for group in groups)
