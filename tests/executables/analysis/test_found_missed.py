"""The found-missed table's FARs (issue 20 item 10): an injection louder than every background event has no measured
FAR, only an upper limit of 1 / Tb, and the table says so instead of writing 0."""

import csv

import h5py
import numpy as np

from executables.analysis.found_missed import columns, write_csv, write_hdf5
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet

TB = 0.5 * SECONDS_PER_YEAR
IFOS = ["H1", "L1"]


def background() -> EventSet:
    """Three background events in half a year: FARs 2, 4 and 6 per year."""
    return EventSet(detection_statistic=np.array([2.0, 1.0, 0.0]), detection_time=np.array([10.0, 20.0, 30.0]),
                    shift=np.zeros((3, 2)), Tb=TB, ifos=IFOS)


def foreground(statistic) -> RecoveredInjectionSet:
    n = len(statistic)
    return RecoveredInjectionSet(detection_statistic=np.asarray(statistic, dtype=np.float64),
                                 detection_time=np.arange(n, dtype=np.float64), shift=np.zeros((n, 2)),
                                 injection_time=np.arange(n, dtype=np.float64), snr=np.full(n, 12.0),
                                 parameters={"mass_1": np.full(n, 30.0), "mass_2": np.full(n, 20.0)}, Tb=0.0,
                                 ifos=IFOS)


def test_louder_than_all_background_is_an_upper_limit_at_one_over_tb(tmp_path):
    table = columns(foreground([5.0, 1.5, -1.0, 2.0]), background())
    np.testing.assert_array_equal(table["far"], [2.0, 2.0, 6.0, 2.0])  # 1/Tb = 2/yr: the bound, not 0
    np.testing.assert_array_equal(table["far_upper_limit"], [True, False, False, False])
    names = list(table)
    assert names.index("far_upper_limit") == names.index("far") + 1

    with open(write_csv(tmp_path / "found-missed.csv", table), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["far_upper_limit"] for row in rows] == ["True", "False", "False", "False"]
    assert float(rows[0]["far"]) == 2.0
    with h5py.File(write_hdf5(tmp_path / "found-missed.hdf5", table, {"Tb": TB}), "r") as handle:
        assert handle["far_upper_limit"].dtype == bool and handle["far_upper_limit"].fletcher32
        np.testing.assert_array_equal(handle["far_upper_limit"][:], [True, False, False, False])
        assert list(handle.attrs["columns"]) == names
