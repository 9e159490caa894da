"""The event-set library (issue 10): FAR arithmetic on hand-made sets and the per-node events file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from executables.common.errors import InputError
from executables.formats.events import (
    SECONDS_PER_YEAR,
    BranchRecord,
    EventSet,
    RecoveredInjectionSet,
    read_node_events,
    write_node_events,
)

IFOS = ["H1", "L1"]
YEAR = 365.25 * 86400


def events(statistics, Tb, times=None, shift=1.0):
    statistics = np.asarray(statistics, dtype=float)
    times = np.arange(len(statistics), dtype=float) if times is None else np.asarray(times, dtype=float)
    return EventSet(detection_statistic=statistics, detection_time=1e9 + times,
                    shift=np.tile([0.0, shift], (len(statistics), 1)), Tb=Tb, ifos=IFOS)


def foreground(rows, seed=0):
    rng = np.random.default_rng(seed)
    return RecoveredInjectionSet(
        detection_statistic=rng.normal(size=rows), detection_time=1e9 + np.arange(rows) * 20.0,
        injection_time=1e9 + np.arange(rows) * 20.0 + 0.1, shift=np.tile([0.0, 2.0], (rows, 1)),
        snr=rng.uniform(4, 30, rows), parameters={"mass_1": rng.uniform(5, 100, rows), "h1_snr": np.ones(rows)},
        Tb=0.0, ifos=IFOS)


# -- FAR arithmetic --------------------------------------------------------------------------------------------------


def test_a_year_is_julian():
    assert SECONDS_PER_YEAR == YEAR == 31_557_600


def test_far_counts_events_at_or_above_each_threshold_per_year():
    background = events([1, 5, 3, 3, 2], Tb=2 * YEAR)
    np.testing.assert_array_equal(background.far([0, 1, 2, 3, 3.5, 5, 6]), [2.5, 2.5, 2.0, 1.5, 0.5, 0.5, 0.0])
    assert background.far(3.0) == 1.5
    np.testing.assert_array_equal(background.significance([5, 2.5, 0]), [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(events([4.0], Tb=YEAR / 4).far([4.0, 4.1]), [4.0, 0.0])


def test_threshold_at_far_is_the_lowest_threshold_within_the_far():
    background = events([1, 5, 3, 3, 2], Tb=2 * YEAR)  # descending 5 3 3 2 1; FAR f allows floor(2 f) events
    fars = np.array([0.0, 0.4, 0.5, 1.0, 1.5, 2.0, 2.5, 100.0])
    thresholds = background.threshold_at_far(fars)
    above = np.nextafter([5.0, 5.0, 3.0, 3.0, 2.0, 1.0], np.inf)
    np.testing.assert_array_equal(thresholds, [*above, -np.inf, -np.inf])
    np.testing.assert_array_equal(background.far(thresholds), [0.0, 0.0, 0.5, 0.5, 1.5, 2.0, 2.5, 2.5])
    assert np.all(background.far(thresholds) <= fars)
    lower = np.nextafter(thresholds[:6], -np.inf)  # any lower threshold lets in more than the FAR allows
    assert np.all(background.far(lower) > fars[:6])


def test_threshold_at_far_survives_round_off_in_far_times_tb():
    Tb, far = 0.7 * YEAR, 3 / 0.7
    assert far * (Tb / SECONDS_PER_YEAR) < 3  # the product falls just short of the 3 events it means
    background = events([9, 8, 7, 6, 5], Tb=Tb)
    assert background.threshold_at_far(far) == np.nextafter(6.0, np.inf)


def test_far_needs_livetime_and_sane_fars():
    with pytest.raises(ValueError, match="Tb = 0"):
        events([1.0], Tb=0).far(0.5)
    with pytest.raises(ValueError, match=">= 0"):
        events([1.0], Tb=YEAR).threshold_at_far([-1.0])


def test_sorted_is_loudest_first_with_ties_in_time_order():
    background = events([1, 5, 3, 3, 2], Tb=YEAR, times=[0, 1, 4, 2, 3])
    ordered = background.sorted()
    np.testing.assert_array_equal(ordered.detection_statistic, [5, 3, 3, 2, 1])
    np.testing.assert_array_equal(ordered.detection_time - 1e9, [1, 2, 4, 3, 0])
    assert (ordered.Tb, ordered.ifos) == (background.Tb, background.ifos)


def test_shift_must_have_a_column_per_ifo():
    with pytest.raises(ValueError, match=r"shift has shape \(2, 1\)"):
        EventSet(detection_statistic=[1, 2], detection_time=[0, 1], shift=[[0], [1]], Tb=1, ifos=IFOS)
    assert EventSet.empty(IFOS).shift.shape == (0, 2)


def test_branch_zero_is_never_background():
    with pytest.raises(ValueError, match="zero-lag"):
        BranchRecord("1-100:0", 0, 90.0, True, 0)
    BranchRecord("1-100:7", 7, 90.0, False, 3)  # a shift analysed for its injections only


# -- per-node files --------------------------------------------------------------------------------------------------


BRANCHES = [BranchRecord("1000-400:0", 0, 380.0, False, 0), BranchRecord("1000-400:1", 1, 379.5, True, 2),
            BranchRecord("1000-400:2", 2, 379.0, True, 1)]


def node_file(path, **overrides):
    values = dict(branches=BRANCHES, background=events([3, 1, 2], Tb=758.5), zero_lag=events([4], Tb=380.0, shift=0),
                  foreground=foreground(3))
    values.update(overrides)
    return write_node_events(path, **values)


def test_node_events_round_trip(tmp_path):
    path = node_file(tmp_path / "infer-0000.hdf5")
    node = read_node_events(path)
    assert node.branches == BRANCHES
    np.testing.assert_array_equal(node.background.detection_statistic, [3, 1, 2])
    assert (node.background.Tb, node.zero_lag.Tb, node.foreground.Tb) == (758.5, 380.0, 0.0)
    np.testing.assert_array_equal(node.zero_lag.shift, [[0.0, 0.0]])
    expected = foreground(3)
    for name in ("detection_statistic", "detection_time", "injection_time", "shift", "snr"):
        np.testing.assert_array_equal(getattr(node.foreground, name), getattr(expected, name))
    assert node.foreground.parameters.keys() == {"mass_1", "h1_snr"}
    np.testing.assert_array_equal(node.foreground.parameters["mass_1"], expected.parameters["mass_1"])
    assert node.foreground.ifos == IFOS
    with h5py.File(path) as handle:
        assert set(handle) == {"branches", "background", "zero-lag", "foreground"}
        assert handle["background"].attrs["ledger"] == "EventSet"
        assert list(handle["foreground/parameters"]) == sorted(
            ["detection_statistic", "detection_time", "injection_time", "shift", "snr", "mass_1", "h1_snr"])


def test_node_file_with_no_rows_round_trips(tmp_path):
    branches = [BranchRecord("1000-400:3", 3, 379.0, True, 0)]
    path = write_node_events(tmp_path / "e.hdf5", branches, EventSet.empty(IFOS, 379.0), EventSet.empty(IFOS),
                             RecoveredInjectionSet.empty(IFOS))
    node = read_node_events(path)
    assert (len(node.background), len(node.zero_lag), len(node.foreground), node.background.Tb) == (0, 0, 0, 379.0)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"background": events([1.0], Tb=758.0)}, "background Tb 758.0 s differs from its branches' livetime 758.5"),
    ({"zero_lag": events([1.0], Tb=0.0)}, "zero-lag Tb 0.0 s differs"),
    ({"foreground": foreground(2)}, "foreground has 2 rows, the branches analysed 3"),
    ({"branches": BRANCHES + BRANCHES[:1]}, "branch 1000-400:0 is listed 2 times"),
])
def test_writing_a_node_file_that_disagrees_with_its_branches_fails(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        node_file(tmp_path / "e.hdf5", **overrides)
    assert not (tmp_path / "e.hdf5").exists()


def test_reading_a_damaged_node_file_names_file_and_dataset(tmp_path):
    path = node_file(tmp_path / "e.hdf5")
    with h5py.File(path, "a") as handle:
        handle["background"].attrs["Tb"] = 1.0
    with pytest.raises(InputError, match="background Tb 1.0 s differs") as info:
        read_node_events(path)
    assert info.value.path == path
    with h5py.File(path, "a") as handle:
        del handle["foreground/parameters/snr"]
    with pytest.raises(InputError) as info:
        read_node_events(path)
    assert (info.value.path, info.value.field) == (path, "foreground/parameters/snr")
    with h5py.File(path, "a") as handle:
        del handle["zero-lag"]
    with pytest.raises(InputError, match="group missing"):
        read_node_events(path)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        read_node_events(path)
