"""Issue 25: the matched-filter reference as part of a whole DAG, run by ``aframe-dag run``.

The small config of ``tests/fixtures/micro.py`` (400 s of new test data), with four timeslides (``TEST_SET``) and
``[reference] matched_filter = true`` with a small bank (``BANK``: minimal match 0.9, non-spinning; BENCHMARKS.md
says what it costs and finds). Its network is an untrained one of the micro architecture, exported through
``[train] model``: these tests look at the reference, and at the network only for what the two must share (Tb, the
injections, the sensitive-volume settings), so they need no training and stay out of the micro run's xdist group
(its worker is the suite's longest). The reference must find what an optimal search finds: nearly every injection
with optimal network SNR >= 10 above its own background's threshold at FAR 10/Tb.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from aframe_dag.config import load_config
from aframe_dag.init.init import run_directories
from executables.common import trained
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet
from executables.train.model import build_model, to_torchscript
from tests.executables.reference.reference_inputs import REFERENCE_BIN, needs_reference
from tests.fixtures.micro import AFRAME_DAG, SMALL, build_and_run, copy_micro_config

pytestmark = [pytest.mark.slow, needs_reference, pytest.mark.xdist_group("reference-run")]

#: Four timeslides, three of them holding injections, analysed by one infer node: enough background that FAR 10/Tb
#: is a real threshold (more than ten events), and enough loud injections (about forty) to judge 95 % of them.
TEST_SET = ("testing.Tb=1500", "testing.num_injections=60", "infer.seconds_per_node=3000")
#: The bank: coarse and non-spinning, so that it is placed in seconds (BENCHMARKS.md, "Matched-filter reference").
BANK = ("reference.minimal_match=0.9", "reference.spin=0:0")
#: The FAR the reference's efficiency is read at, in units of 1/Tb, and what it must find there.
FAR_PER_TB, LOUD, FOUND = 10.0, 10.0, 0.95


@dataclass(frozen=True)
class ReferenceRun:
    """A finished small run with the reference on."""

    root: Path
    run: subprocess.CompletedProcess

    @property
    def results(self) -> Path:
        return self.root / "results"


def untrained_model(ini: Path, root: Path, path: Path) -> Path:
    """The micro architecture, untrained, saved as aframe-train saves it (with the data settings it is for)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in run_directories(root, None).items():
            patch.setenv(variable, value)
        shared = load_config(ini, SMALL).shared()
    architecture = yaml.safe_load((ini.parent / "train.yaml").read_text())["model"]
    torch.manual_seed(0)
    model = build_model(architecture, len(shared["ifos"]))
    example = torch.zeros(1, len(shared["ifos"]), round(shared["kernel_length"] * shared["sample_rate"]))
    torch.jit.save(to_torchscript(model, example), str(path), _extra_files=trained.extra_files(shared))
    return path


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> ReferenceRun:
    root = tmp_path_factory.mktemp("reference-e2e")
    ini = copy_micro_config(root)
    model = untrained_model(ini, root, root / "untrained.pt")
    overrides = (*SMALL, *TEST_SET, f"train.model={model}", "reference.matched_filter=true",
                 f"reference.environment={REFERENCE_BIN.parent}", *BANK)
    _, run = build_and_run(root, ini, overrides)
    return ReferenceRun(root, run)


def test_every_node_finishes(reference_run):
    assert reference_run.run.returncode == 0, reference_run.run.stderr[-3000:]
    status = json.loads(subprocess.run([AFRAME_DAG, "status", str(reference_run.root / "condor"), "--json"],
                                       capture_output=True, text=True, check=True).stdout)["nodes"]
    assert {"reference-bank", "reference-filter-0000", "reference-aggregate", "reference-sv"} <= set(status)
    assert {node["status"] for node in status.values()} == {"done"}
    ours = reference_run.results / "reference"
    for name in ("bank.hdf5", "background.hdf5", "foreground.hdf5", "sensitive_volume.h5"):
        assert (ours / name).is_file(), name


def test_the_reference_searches_the_networks_time_and_injections(reference_run):
    """Same aggregate and sensitive-volume code on the same Tb, injections and populations."""
    network, ours = reference_run.results, reference_run.results / "reference"
    assert EventSet.read(ours / "background.hdf5").Tb == EventSet.read(network / "background.hdf5").Tb > 0
    theirs = RecoveredInjectionSet.read(network / "foreground.hdf5")
    found = RecoveredInjectionSet.read(ours / "foreground.hdf5")
    assert len(found.injection_time) == len(theirs.injection_time) > 0
    assert set(found.injection_time) == set(theirs.injection_time)
    with h5py.File(network / "sensitive_volume.h5") as network_sv, h5py.File(ours / "sensitive_volume.h5") as ours_sv:
        for name in ("Tb", "V0", "num_accepted", "num_injections", "source_prior"):
            assert ours_sv.attrs[name] == network_sv.attrs[name], name
        assert list(ours_sv.attrs["populations"]) == list(network_sv.attrs["populations"])


def test_the_matched_filter_finds_the_loud_injections(reference_run):
    """At least 95 % of the injections with optimal network SNR >= 10 are at or above the reference's threshold at
    FAR 10/Tb (its own background), and the SNR it recovers for them is the optimal SNR, up to the bank's mismatch
    and the noise."""
    ours = reference_run.results / "reference"
    background = EventSet.read(ours / "background.hdf5")
    foreground = RecoveredInjectionSet.read(ours / "foreground.hdf5")
    threshold = background.threshold_at_far(FAR_PER_TB * SECONDS_PER_YEAR / background.Tb)
    loud = foreground.snr >= LOUD
    assert len(background.detection_statistic) > FAR_PER_TB, "too little background for a threshold at 10/Tb"
    assert loud.sum() >= 20, "too few loud injections to judge"
    found = foreground.detection_statistic[loud] >= threshold
    assert found.mean() >= FOUND, (threshold, foreground.snr[loud][~found], foreground.detection_statistic[loud])
    ratio = foreground.detection_statistic[loud][found] / foreground.snr[loud][found]
    assert 0.8 <= np.median(ratio) <= 1.15, ratio
