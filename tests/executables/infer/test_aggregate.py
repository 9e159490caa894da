"""aframe-aggregate (issue 10): node event files merged (inputs kept) with Tb and injection totals asserted."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from executables.formats.events import BranchRecord, EventSet, RecoveredInjectionSet, write_node_events
from executables.infer.aggregate import main
from tests.executables.formats.test_events import IFOS, foreground

pytestmark = pytest.mark.usefixtures("restore_logging")

AGGREGATE = str(Path(sys.executable).with_name("aframe-aggregate"))


def node(path, branches, seed):
    """A node file whose events come from its branches: 3 per background branch, 1 per zero-lag branch."""
    rng = np.random.default_rng(seed)
    counts = {True: sum(3 for b in branches if b.background), False: sum(1 for b in branches if b.shift == 0)}
    sets = {}
    for background, rows in counts.items():
        livetime = math.fsum(b.livetime for b in branches if (b.background if background else b.shift == 0))
        sets[background] = EventSet(detection_statistic=rng.normal(size=rows),
                                    detection_time=1e9 + rng.uniform(0, 400, rows),
                                    shift=np.tile([0.0, float(background)], (rows, 1)), Tb=livetime, ifos=IFOS)
    injections = sum(b.injections for b in branches)
    recovered = foreground(injections, seed) if injections else RecoveredInjectionSet.empty(IFOS)
    return write_node_events(path, branches, sets[True], sets[False], recovered)


def branch(t0, shift, livetime, injections=0, background=None):
    return BranchRecord(f"{t0}-400:{shift}", shift, livetime, shift != 0 if background is None else background,
                        injections)


PLAN = [[branch(1000, 0, 380.0), branch(1000, 1, 379.5, 2), branch(1000, 2, 379.25)],
        [branch(2000, 0, 390.0), branch(2000, 1, 389.5, 1)],
        [branch(2000, 2, 389.25), branch(1000, 3, 379.0, 3, background=False)]]
LIVETIME = 379.5 + 379.25 + 389.5 + 389.25
INJECTIONS = 6


@pytest.fixture
def inputs(tmp_path):
    return [node(tmp_path / f"infer-{k:04d}.hdf5", branches, k) for k, branches in enumerate(PLAN)]


def outputs(tmp_path):
    return {name: tmp_path / f"{name}.hdf5" for name in ("background", "foreground", "zero-lag")}


def invoke(tmp_path, inputs, livetime=LIVETIME, injections=INJECTIONS):
    args = ["--expected-livetime", repr(livetime), "--expected-injections", str(injections)]
    for name, path in outputs(tmp_path).items():
        args += [f"--{name}", str(path)]
    args += ["--device", "cpu"] + [item for path in inputs for item in ("--input", str(path))]
    return args


def test_console_script_merges_sorts_and_keeps_its_inputs(tmp_path, inputs):
    before = {path: path.read_bytes() for path in inputs}
    marker = tmp_path / "done" / "aggregate.json"
    result = subprocess.run([AGGREGATE, *invoke(tmp_path, inputs), "--done-marker", marker, "--node-hash", "h"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {path: path.read_bytes() for path in inputs} == before and marker.is_file()

    paths = outputs(tmp_path)
    background = EventSet.read(paths["background"])
    assert background.Tb == LIVETIME and len(background) == 3 * 4
    assert np.all(np.diff(background.detection_statistic) <= 0)
    assert np.all(background.shift[:, 1] == 1.0)
    zero_lag = EventSet.read(paths["zero-lag"])
    assert zero_lag.Tb == 380.0 + 390.0 and len(zero_lag) == 2 and not zero_lag.shift.any()
    recovered = RecoveredInjectionSet.read(paths["foreground"])
    assert len(recovered) == INJECTIONS and recovered.ifos == IFOS
    parts = [foreground(2, 0), foreground(1, 1), foreground(3, 2)]  # what node() put in each file
    np.testing.assert_array_equal(recovered.parameters["mass_1"],
                                  np.concatenate([part.parameters["mass_1"] for part in parts]))


def test_an_empty_node_only_adds_livetime(tmp_path, inputs):
    empty = node(tmp_path / "infer-0003.hdf5", [branch(3000, 1, 100.0)], 3)
    result = CliRunner().invoke(main, invoke(tmp_path, [*inputs, empty], livetime=LIVETIME + 100.0))
    assert result.exit_code == 0, result.output
    assert EventSet.read(outputs(tmp_path)["background"]).Tb == LIVETIME + 100.0


def test_a_branch_counted_twice_exits_2_naming_it_and_both_files(tmp_path, inputs):
    retried = node(tmp_path / "infer-0003.hdf5", [branch(2000, 1, 389.5, 1)], 3)
    result = CliRunner().invoke(main, invoke(tmp_path, [*inputs, retried]))
    assert result.exit_code == 2
    assert f"{retried}: branches: branch 2000-400:1 is also in {inputs[1]}" in result.output
    assert not any(path.exists() for path in outputs(tmp_path).values())


def test_a_missing_branch_exits_2_with_the_numbers(tmp_path, inputs):
    result = CliRunner().invoke(main, invoke(tmp_path, inputs[:2]))
    assert result.exit_code == 2
    found = 379.5 + 379.25 + 389.5
    assert f"background livetime is {found!r} s, the plan expects {LIVETIME!r} s: a branch is missing, short by " \
           f"389.25" in result.output
    assert f"{inputs[1]}: 389.5 s" in result.output
    assert not any(path.exists() for path in outputs(tmp_path).values())


def test_missing_injections_exit_2_with_the_numbers(tmp_path, inputs):
    result = CliRunner().invoke(main, invoke(tmp_path, inputs, injections=INJECTIONS + 4))
    assert result.exit_code == 2
    assert "6 accepted injections were analysed, the plan expects 10: a branch is missing, short by 4" in result.output


def test_livetime_within_relative_tolerance_passes(tmp_path, inputs):
    assert CliRunner().invoke(main, invoke(tmp_path, inputs, livetime=LIVETIME * (1 + 1e-12))).exit_code == 0
    assert CliRunner().invoke(main, invoke(tmp_path, inputs, livetime=LIVETIME * (1 - 1e-8))).exit_code == 2


def test_the_same_file_twice_or_a_bad_file_exits_2(tmp_path, inputs):
    result = CliRunner().invoke(main, invoke(tmp_path, [*inputs, inputs[0]]))
    assert result.exit_code == 2 and f"{inputs[0]}: given twice" in result.output
    inputs[2].write_bytes(b"truncated")
    result = CliRunner().invoke(main, invoke(tmp_path, inputs))
    assert result.exit_code == 2 and f"{inputs[2]}: not a readable HDF5 file" in result.output
