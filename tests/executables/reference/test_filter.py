"""aframe-reference-filter in the reference virtualenv: a known signal found where and as loud as it was put,
background events the aggregate node takes unchanged, and the plan's counts checked before any filtering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aframe_dag import timeslides
from executables.formats.events import read_node_events
from tests.executables.reference.reference_inputs import (
    CLUSTER,
    DURATION,
    PSD_LENGTH,
    SHIFTS,
    arguments,
    needs_reference,
    run,
    write_bank,
    write_injection,
    write_noise,
)

pytestmark = needs_reference
AGGREGATE = str(Path(sys.executable).with_name("aframe-aggregate"))
#: Low enough that 240 s of noise and a five-template bank give coincident background events.
THRESHOLD = ("--snr-threshold", "3")


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> dict:
    """Zero-lag and shift 1 of one file, an SNR-15 injection in shift 1 (L1 read 1 s later)."""
    root = tmp_path_factory.mktemp("reference")
    background = write_noise(root)
    injections = write_injection(root / "injections.hdf5", index=1, network_snr=15.0)
    output = root / "events.hdf5"
    result = run(arguments(write_bank(root / "bank.hdf5"), root / "injections.hdf5", output,
                           [(0, background), (1, background)], expected_injections=1, extra=THRESHOLD))
    assert result.returncode == 0, result.stderr[-3000:]
    return {"root": root, "output": output, "injections": injections, "background": background}


def test_known_signal_is_found_at_its_time_and_snr(searched):
    events = read_node_events(searched["output"])
    (statistic,), (found_at,) = events.foreground.detection_statistic, events.foreground.detection_time
    injected = searched["injections"]
    assert statistic == pytest.approx(15.0, rel=0.1)
    # the anchor trigger's time: the merger in H1 or in L1 (on the analysis clock), within the light travel time
    assert abs(found_at - injected.injection_time[0]) < 0.03
    np.testing.assert_allclose(events.foreground.shift, [[0.0, 1.0]])


def test_background_and_zero_lag_events_cover_each_branch(searched):
    events = read_node_events(searched["output"])
    assert [b.label for b in events.branches] == [f"1240000000-{DURATION}:0", f"1240000000-{DURATION}:1"]
    assert events.background.Tb == timeslides.livetime(DURATION, SHIFTS, 1, PSD_LENGTH)
    for events_set, index in ((events.zero_lag, 0), (events.background, 1)):
        start, stop = timeslides.analysed_span(DURATION, SHIFTS, index, PSD_LENGTH)
        times = events_set.detection_time - 1_240_000_000
        assert np.all((times >= start) & (times < stop))
        # two ifos above 4 each, and no two events closer than half the cluster length
        assert np.all(events_set.detection_statistic > 3 * np.sqrt(2))
        assert np.all(np.diff(np.sort(events_set.detection_time)) > CLUSTER / 2)
    assert len(events.background) > 0
    # Gaussian noise: nothing in the background as loud as the injection
    assert events.background.detection_statistic.max() < 10


def test_aggregate_takes_the_reference_events(searched):
    root = searched["root"]
    livetime = timeslides.livetime(DURATION, SHIFTS, 1, PSD_LENGTH)
    outputs = {name: root / f"{name}.hdf5" for name in ("background", "foreground", "zero-lag")}
    result = subprocess.run([AGGREGATE, "--expected-livetime", repr(livetime), "--expected-injections", "1",
                             "--background", str(outputs["background"]), "--foreground", str(outputs["foreground"]),
                             "--zero-lag", str(outputs["zero-lag"]), "--input", str(searched["output"])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(path.is_file() for path in outputs.values())


def test_a_count_the_plan_did_not_expect_exits_2_before_filtering(tmp_path, searched):
    args = arguments(write_bank(tmp_path / "bank.hdf5"), searched["root"] / "injections.hdf5",
                     tmp_path / "events.hdf5", [(1, searched["background"])], expected_injections=2)
    result = run(args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the plan expects 2 (--expected-injections)" in result.stderr
    assert not (tmp_path / "events.hdf5").exists()
