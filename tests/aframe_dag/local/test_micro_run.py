"""End to end on this machine: the micro run built by `aframe-dag build`, run by `aframe-dag run` (issue 11).

Every stage is real (simulated background, waveforms, injections, training, ONNX export, onnxruntime inference over
timeslides, aggregation, sensitive volume, the FINAL report). Besides the files and the exact counts, the run must
keep its sensitivity: loud injections are found, and the sensitive distance does not fall below a stored baseline by
more than three of its own statistical errors. After a deliberate change to the science, refresh the baseline with
``AFRAME_DAG_UPDATE_BASELINE=1`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
import subprocess

import h5py
import numpy as np
import pytest
from gwpy.timeseries import TimeSeriesDict

from aframe_dag.config import load_config
from executables.formats.events import SECONDS_PER_YEAR
from tests.executables.test_corruption import overwrite
from tests.fixtures.micro import AFRAME_DAG, DATA

pytestmark = pytest.mark.slow

BASELINE = DATA / "micro_baseline.json"
LOUD_SNR = 20
GATE_POPULATION = "35-35"


def far_threshold(results) -> float:
    """FAR = 10 / Tb, per year: a threshold ten background events deep, so no single event decides the gate."""
    with h5py.File(results / "background.hdf5") as background:
        return 10 / (background.attrs["Tb"] / SECONDS_PER_YEAR)


def distance_at(results, far: float) -> tuple[float, float]:
    """Sensitive distance (Mpc) and its error for the gate population at `far`, interpolated in log FAR."""
    with h5py.File(results / "sensitive_volume.h5") as volume:
        fars = np.log(volume["fars"][:])
        population = volume["populations"][GATE_POPULATION]
        return (float(np.interp(np.log(far), fars, population["distance"][:])),
                float(np.interp(np.log(far), fars, population["distance_err"][:])))


def test_the_micro_run_ends_with_its_report(micro_run):
    assert micro_run.run.returncode == 0, micro_run.run.stderr[-3000:]
    summary = json.loads((micro_run.results / "summary.json").read_text())
    assert summary["dag_status"] == 0 and summary["missing"] == []
    report = (micro_run.results / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 4 and 'src="http' not in report
    status = json.loads(subprocess.run([AFRAME_DAG, "status", str(micro_run.condor), "--json"], capture_output=True,
                                       text=True, check=True).stdout)
    assert {node["status"] for node in status["nodes"].values()} == {"done"}


def test_livetime_and_injection_counts_are_the_plan_s(micro_run):
    totals, results = micro_run.build.workflow.totals, micro_run.results
    with h5py.File(results / "background.hdf5") as background, h5py.File(results / "foreground.hdf5") as foreground:
        assert background.attrs["Tb"] == totals["livetime"]
        assert foreground.attrs["length"] == totals["injections"]
    test = micro_run.root / "data" / "test"
    with h5py.File(test / "injections.hdf5") as accepted, h5py.File(test / "rejected-parameters.hdf5") as rejected:
        assert accepted.attrs["length"] == totals["injections"]
        assert accepted.attrs["length"] + rejected.attrs["length"] == accepted.attrs["num_injections"]
    headline = json.loads((results / "summary.json").read_text())["headline"]
    assert (headline["Tb"], headline["accepted_injections"]) == (totals["livetime"], totals["injections"])
    rate = load_config(micro_run.condor / "run.ini.resolved")["data"]["sample_rate"]
    for node in micro_run.build.workflow.nodes:
        if node.stage == "background":
            strain = TimeSeriesDict.read(node.outputs[0], ["H1", "L1"], format="hdf5")
            assert strain["H1"].sample_rate.value == rate and strain["L1"].t0.value == int(node.name.split("-")[2])


def test_loud_injections_are_found(micro_run):
    far = far_threshold(micro_run.results)
    with h5py.File(micro_run.results / "found-missed.hdf5") as table:
        loud = table["snr"][:] > LOUD_SNR
        found = table["far"][:][loud] <= far
    assert loud.sum() >= 10, "too few loud injections for the gate to mean anything"
    assert found.mean() >= 0.9, f"{found.sum()} of {loud.sum()} injections with SNR > {LOUD_SNR} found"


def test_sensitive_distance_holds_against_the_baseline(micro_run):
    distance, error = distance_at(micro_run.results, far_threshold(micro_run.results))
    if os.environ.get("AFRAME_DAG_UPDATE_BASELINE"):
        BASELINE.write_text(json.dumps({"population": GATE_POPULATION, "distance": distance, "error": error},
                                       indent=1) + "\n")
    baseline = json.loads(BASELINE.read_text())
    assert distance >= baseline["distance"] - 3 * error, (distance, error, baseline)


def test_a_rerun_redoes_nothing_but_the_summary(micro_run):
    again = subprocess.run([AFRAME_DAG, "run", str(micro_run.condor)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    started = [line.split()[1].rstrip(":") for line in again.stderr.splitlines() if line.endswith(": started")]
    assert started == ["summary"]


def test_a_corrupted_merged_file_is_remade_by_its_node_alone(micro_run):
    """Random bytes in the merged injections (a bad disk): status and why say the merge runs again, and a resume
    remakes exactly that file, bit-equal, leaving every result as it was."""
    injections = micro_run.root / "data" / "test" / "injections.hdf5"
    (merge,) = [node.name for node in micro_run.build.workflow.nodes if str(injections) in map(str, node.outputs)]
    results = [micro_run.results / name for name in ("background.hdf5", "foreground.hdf5", "sensitive_volume.h5")]
    before = {path: path.read_bytes() for path in [injections, *results]}
    overwrite(injections, "waveforms/h1", np.random.default_rng(0).bytes(4096))

    status = json.loads(subprocess.run([AFRAME_DAG, "status", str(micro_run.condor), "--json"], capture_output=True,
                                       text=True, check=True).stdout)
    assert any(note.startswith(f"{merge} finished, but its output {injections} changed") for note in status["notes"])
    why = subprocess.run([AFRAME_DAG, "why", merge, str(micro_run.condor)], capture_output=True, text=True,
                         check=True).stdout
    assert "runs again when the DAG is resumed: its output" in why and "is not what the node wrote" in why

    again = subprocess.run([AFRAME_DAG, "run", str(micro_run.condor)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    started = [line.split()[1].rstrip(":") for line in again.stderr.splitlines() if line.endswith(": started")]
    assert started == [merge, "summary"]
    assert {path: path.read_bytes() for path in before} == before


def test_every_hdf5_dataset_of_the_run_carries_a_checksum(micro_run):
    """Whatever node wrote it, a dataset changed on disk must fail HDF5's own read (issue 19)."""
    files = [path for pattern in ("*.hdf5", "*.h5") for path in micro_run.root.rglob(pattern)]
    assert len(files) > 10
    unprotected = []
    for path in files:
        with h5py.File(path) as handle:
            handle.visititems(lambda name, item, path=path: unprotected.append(f"{path}:{name}")
                              if isinstance(item, h5py.Dataset) and not item.fletcher32 else None)
    assert unprotected == []
