"""Vetoes in aframe-aggregate (issue 24, item 2): the Tb and the rows they remove, and the FARs after them.

The aggregate fixture is tests/aframe_dag/test_vetoes.py's, checked by hand: one file t0 = 1000, 100 s, dead time
10 s, shifts (0, 1); branch i analyses [1010, 1100 - i) (90 - i s); H1 vetoes [1020, 1030), L1 [1032, 1036) and
[1095, 1200). Branches 1, 2, 3 lose 19, 19 and 18 s, so Tb goes from 89 + 88 + 87 = 264 s to 208 s; the zero-lag
loses 19 of its 90 s.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from igwn_segments import segment, segmentlist

from aframe_dag.timeslides import plan_branches
from aframe_dag.vetoes import Vetoes
from executables.formats.events import BranchRecord, EventSet, RecoveredInjectionSet, write_node_events
from executables.infer.aggregate import main as aggregate_main
from executables.infer.vetoes import vetoed_seconds

pytestmark = pytest.mark.usefixtures("restore_logging")

AGGREGATE = str(Path(sys.executable).with_name("aframe-aggregate"))
YEAR = 31_557_600
IFOS = ["H1", "L1"]
BRANCHES = [BranchRecord("1000-100:0", 0, 90.0, False, 0), BranchRecord("1000-100:1", 1, 89.0, True, 2),
            BranchRecord("1000-100:2", 2, 88.0, True, 2), BranchRecord("1000-100:3", 3, 87.0, True, 0)]
#: (statistic, clock time, shift index) of each background event, and whether the vetoes remove it
BACKGROUND = [(9.0, 1025.0, 1),    # H1 at 1025: vetoed
              (5.0, 1050.0, 1),
              (7.0, 1033.5, 2),    # L1 at 1035.5: vetoed
              (3.0, 1060.0, 2),
              (4.0, 1033.5, 3),    # L1 at 1036.5: just past [1032, 1036)
              (6.0, 1096.5, 3)]    # L1 at 1099.5: vetoed
#: (injection time, shift index): 1025 (H1) and 1094.5 (L1 at 1096.5) are vetoed
FOREGROUND = [(1025.0, 1), (1045.0, 1), (1035.0, 2), (1094.5, 2)]


def rows(cls, table, **extra):
    shift = np.array([[0.0, float(index)] for *_, index in table]).reshape(-1, 2)
    return cls(shift=shift, ifos=IFOS, **extra)


def write_fixture(directory: Path) -> dict[str, Path]:
    (directory / "h1.txt").write_text("0 1020 1030 10\n")
    (directory / "l1.txt").write_text("# start stop\n1032 1036\n1095 1200\n")
    background = rows(EventSet, BACKGROUND, detection_statistic=np.array([s for s, _, _ in BACKGROUND]),
                      detection_time=np.array([t for _, t, _ in BACKGROUND]), Tb=264.0)
    zero_lag = EventSet(detection_statistic=np.array([2.0, 8.0]), detection_time=np.array([1021.0, 1040.0]),
                        shift=np.zeros((2, 2)), Tb=90.0, ifos=IFOS)
    times = np.array([t for t, _ in FOREGROUND])
    foreground = rows(RecoveredInjectionSet, FOREGROUND, detection_statistic=np.array([1.0, 2.0, 3.0, 4.0]),
                      detection_time=times + 0.25, injection_time=times, snr=np.full(4, 10.0),
                      parameters={"mass_1": np.array([10.0, 20.0, 30.0, 40.0])}, Tb=0.0)
    events = write_node_events(directory / "infer-0000.hdf5", BRANCHES, background, zero_lag, foreground)
    return {"events": events, **{name: directory / f"{name}.hdf5" for name in ("background", "foreground",
                                                                              "zero-lag")}}


def aggregate_arguments(paths, seconds="56", injections="2", vetoes=("H1:{}/h1.txt", "L1:{}/l1.txt")):
    directory = paths["events"].parent
    args = ["--expected-livetime", "264", "--expected-injections", "4", "--shifts", "0,1",
            "--expected-vetoed-livetime", seconds, "--expected-vetoed-injections", injections, "--device", "cpu"]
    args += [item for spec in vetoes for item in ("--veto", spec.format(directory))]
    return args + [item for name in ("background", "foreground", "zero-lag") for item in (f"--{name}", paths[name])]\
        + ["--input", paths["events"]]


def test_aggregate_removes_vetoed_time_and_rows_and_the_fars_follow(tmp_path):
    paths = write_fixture(tmp_path)
    marker = tmp_path / "done" / "aggregate.json"
    result = subprocess.run([AGGREGATE, *map(str, aggregate_arguments(paths)), "--done-marker", marker,
                             "--node-hash", "h"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "vetoes: 56 s of background (3 events), 19 s of zero-lag (1 events) and 2 of 4 injections removed" \
        in result.stderr

    background = EventSet.read(paths["background"])
    assert background.Tb == 208.0 and background.vetoed == 56.0  # the report says what the vetoes removed
    np.testing.assert_array_equal(background.detection_statistic, [5.0, 4.0, 3.0])
    # FAR = events at or above / Tb: 1, 2 and 3 events in 208 s (without vetoes 4, 5 and 6 in 264 s)
    np.testing.assert_allclose(background.far([5.0, 4.0, 3.0]), [YEAR / 208, 2 * YEAR / 208, 3 * YEAR / 208],
                               rtol=1e-12)
    assert background.far(9.0) == 0.0
    zero_lag = EventSet.read(paths["zero-lag"])
    assert zero_lag.Tb == 71.0 and list(zero_lag.detection_statistic) == [8.0]
    foreground = RecoveredInjectionSet.read(paths["foreground"])
    assert foreground.vetoed_injections == 2
    np.testing.assert_array_equal(foreground.injection_time, [1045.0, 1035.0])
    np.testing.assert_array_equal(foreground.parameters["mass_1"], [20.0, 30.0])


def test_without_vetoes_the_fixture_keeps_everything(tmp_path):
    paths = write_fixture(tmp_path)
    result = CliRunner().invoke(aggregate_main, list(map(str, aggregate_arguments(paths, vetoes=()))))
    assert result.exit_code == 0, result.output
    background = EventSet.read(paths["background"])
    assert background.Tb == 264.0 and len(background) == 6 and background.vetoed is None
    assert RecoveredInjectionSet.read(paths["foreground"]).vetoed_injections is None
    np.testing.assert_allclose(background.far(5.0), 4 * YEAR / 264, rtol=1e-12)  # 9, 7, 6 and 5


@pytest.mark.parametrize(("seconds", "injections", "message"), [
    ("50", "2", "the vetoes remove 56.0 s of background, the plan expects 50.0 s"),
    ("56", "3", "the vetoes drop 2 injections, the plan expects 3"),
])
def test_a_removal_the_plan_did_not_expect_exits_2(tmp_path, seconds, injections, message):
    paths = write_fixture(tmp_path)
    result = CliRunner().invoke(aggregate_main, list(map(str, aggregate_arguments(paths, seconds, injections))))
    assert result.exit_code == 2 and message in result.output
    assert not any(paths[name].exists() for name in ("background", "foreground", "zero-lag"))


def test_a_malformed_veto_file_exits_2_naming_it(tmp_path):
    paths = write_fixture(tmp_path)
    (tmp_path / "l1.txt").write_text("1032 1036\n1095 to 1200\n")
    result = CliRunner().invoke(aggregate_main, list(map(str, aggregate_arguments(paths))))
    assert result.exit_code == 2
    assert f"{tmp_path / 'l1.txt'}: line 2: not 'start stop'" in result.output
    assert not paths["background"].exists()


def test_vetoes_need_the_shifts(tmp_path):
    paths = write_fixture(tmp_path)
    args = list(map(str, aggregate_arguments(paths)))
    del args[args.index("--shifts"):args.index("--shifts") + 2]
    result = CliRunner().invoke(aggregate_main, args)
    assert result.exit_code == 2 and "--veto needs the run's --shifts" in result.output


def test_aggregate_and_the_plan_agree_on_gps_sized_fractional_vetoes():
    """The node recomputes each branch's span from its record as the plan computed it, so both remove the same
    seconds even where veto edges are fractions of a second on GPS-sized clocks."""
    rng = np.random.default_rng(24)
    t0s = [1_240_580_983 + 600 * k for k in range(4)]
    lists = {}
    for ifo in IFOS:
        starts = np.sort(rng.uniform(t0s[0], t0s[-1] + 600, 40))
        lists[ifo] = segmentlist(segment(a, a + b) for a, b in zip(starts, rng.uniform(0.1, 30, 40), strict=True))
    vetoes = Vetoes(IFOS, lists)
    branches = plan_branches([(t0, 600) for t0 in t0s], (0.0, 1.0), dead_time=16, minimum=3, Tb=4000,
                             num_injections=1, spacing=16, buffer=16, vetoes=vetoes)
    records = [BranchRecord(b.label, b.shift, b.livetime, b.background, b.injections) for b in branches]
    assert max(b.shift for b in branches) >= 2 and sum(b.vetoed for b in branches) > 0
    assert vetoed_seconds(vetoes, (0.0, 1.0), records) == math.fsum(b.vetoed for b in branches)
