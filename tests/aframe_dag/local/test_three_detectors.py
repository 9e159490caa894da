"""Any detector network end to end (issue 24): H1, L1 and V1 through every stage with `aframe-dag run`.

``tests/data/micro3.ini`` is the micro run sized down (about a minute on 2 cores), Virgo's noise coloured by its own
design PSD. Its tests share one run, in their own xdist group so that they do not wait behind the micro run's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from gwpy.timeseries import TimeSeriesDict

from tests.fixtures.micro import AFRAME_DAG, DATA, MicroRun, build_and_run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("three-detector-run")]

IFOS = ("H1", "L1", "V1")
SHIFTS = np.array([0.0, 1.0, 2.0])  # micro3.ini's [testing] shifts
PSDS = {"H1": "aLIGODesignSensitivityT1800044", "L1": "aLIGODesignSensitivityT1800044",
        "V1": "AdVDesignSensitivityP1200087"}


@pytest.fixture(scope="module")
def hlv_run(tmp_path_factory) -> MicroRun:
    root = tmp_path_factory.mktemp("hlv-e2e")
    shutil.copy(DATA / "train_micro3.yaml", root / "train.yaml")
    return MicroRun(root, *build_and_run(root, Path(shutil.copy(DATA / "micro3.ini", root / "run.ini"))))


def test_every_node_is_done_and_the_report_written(hlv_run):
    assert hlv_run.run.returncode == 0, hlv_run.run.stderr[-3000:]
    status = json.loads(subprocess.run([AFRAME_DAG, "status", str(hlv_run.condor), "--json"], capture_output=True,
                                       text=True, check=True).stdout)
    assert len(status["nodes"]) == len(hlv_run.build.workflow.nodes)
    assert {node["status"] for node in status["nodes"].values()} == {"done"}
    summary = json.loads((hlv_run.results / "summary.json").read_text())
    assert summary["dag_status"] == 0 and summary["missing"] == []
    assert summary["background"]["noise_psd"] == ("aLIGODesignSensitivityT1800044 (H1, L1), "
                                                  "AdVDesignSensitivityP1200087 (V1)")
    report = (hlv_run.results / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 4 and "AdVDesignSensitivityP1200087 (V1)" in report


def test_each_ifo_has_its_strain_and_its_response(hlv_run):
    assert hlv_run.run.returncode == 0, hlv_run.run.stderr[-3000:]
    backgrounds = [node.outputs[0] for node in hlv_run.build.workflow.nodes if node.stage == "background"]
    assert len(backgrounds) == 2  # one training file, one testing file
    for path in backgrounds:
        strain = TimeSeriesDict.read(path, list(IFOS), format="hdf5")
        assert {ifo: series.sample_rate.value for ifo, series in strain.items()} == dict.fromkeys(IFOS, 1024)
        with h5py.File(path) as handle:
            assert handle.attrs["noise_psd"] == ",".join(PSDS.values())
    with h5py.File(hlv_run.root / "data" / "test" / "injections.hdf5") as injections:
        assert tuple(injections.attrs["ifos"]) == IFOS
        assert {name for name in injections["waveforms"]} == {"h1", "l1", "v1"}
        snrs = {ifo: injections[f"parameters/{ifo.lower()}_snr"][:] for ifo in IFOS}
        network = injections["parameters/snr"][:]
    np.testing.assert_allclose(np.sqrt(sum(snr**2 for snr in snrs.values())), network, rtol=1e-5)
    assert np.all(snrs["V1"] > 0)
    config = (hlv_run.results / "model_repo" / "aframe" / "config.pbtxt").read_text()
    assert "dims: 3\n  dims: 1536" in config  # (ifos, kernel_length x sample_rate)


def test_events_carry_one_shift_per_ifo(hlv_run):
    assert hlv_run.run.returncode == 0, hlv_run.run.stderr[-3000:]
    with h5py.File(hlv_run.results / "background.hdf5") as background:
        assert tuple(background.attrs["ifos"]) == IFOS
        shifts = background["parameters/shift"][:]
    index = shifts[:, 1]  # shift index i moves ifo k by i x SHIFTS[k]
    assert shifts.shape == (len(shifts), 3) and len(shifts) > 0
    np.testing.assert_array_equal(shifts, index[:, None] * SHIFTS[None, :])
    assert np.all(index >= 1) and np.all(index == np.round(index))
    with h5py.File(hlv_run.results / "zero-lag.hdf5") as zero_lag:
        assert zero_lag["parameters/shift"].shape[1] == 3 and not np.any(zero_lag["parameters/shift"][:])
    with h5py.File(hlv_run.results / "foreground.hdf5") as foreground:
        assert foreground["parameters/shift"].shape == (foreground.attrs["length"], 3)


def test_tb_and_the_sensitive_volume_are_finite(hlv_run):
    assert hlv_run.run.returncode == 0, hlv_run.run.stderr[-3000:]
    totals = hlv_run.build.workflow.totals
    with h5py.File(hlv_run.results / "background.hdf5") as background:
        assert background.attrs["Tb"] == totals["livetime"] > 0
    with h5py.File(hlv_run.results / "sensitive_volume.h5") as volume:
        assert np.all(np.isfinite(volume["fars"][:]))
        populations = dict(volume["populations"].items())
        assert set(populations) == {"35-35", "20-20"}
        for population in populations.values():
            for name in ("sv", "sv_err", "distance"):
                assert np.all(np.isfinite(population[name][:])), name
    headline = json.loads((hlv_run.results / "summary.json").read_text())["headline"]
    assert headline["Tb"] == totals["livetime"] and headline["accepted_injections"] == totals["injections"] > 0
