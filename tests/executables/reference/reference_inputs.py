"""Inputs for the matched-filter reference tests: coloured Gaussian noise (the background node's simulation of an
aLIGO design PSD), one IMRPhenomD injection scaled to a chosen network SNR, a small bank holding its template, and
the reference virtualenv that runs the node programs (``make .venv-reference/.installed``: PyCBC needs numpy<2.4).

Sizes: 1024 Hz, 32 Hz low frequency cutoff, 256 s files, 16 s set aside for the PSD (as the plan's dead time), an
L1 step of 1 s per shift.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from aframe_dag import timeslides
from executables.data.background import simulated_strain
from executables.formats.sets import ResponseSet
from executables.formats.strain import write_background
from executables.sources.psds import noise_psd
from executables.sources.signals import generate_polarizations, project, snr

REFERENCE_BIN = Path(__file__).resolve().parents[3] / ".venv-reference" / "bin"
MISSING = f"no reference virtualenv at {REFERENCE_BIN.parent} (make reference builds it)"
needs_reference = pytest.mark.skipif(not (REFERENCE_BIN / "aframe-reference-filter").is_file(), reason=MISSING)

RATE = 1024.0
IFOS = ("H1", "L1")
SHIFTS = (0.0, 1.0)
PSD_NAME = "aLIGOZeroDetHighPower"
F_LOW = 32.0
PSD_LENGTH = 16.0
CLUSTER = 8.0
T0 = 1_240_000_000
DURATION = 256
WAVE_DURATION, RIGHT_PAD = 8.0, 2.0
#: The injected source: detector-frame masses (Msun), aligned spins, sky position and orientation.
SOURCE = {"mass_1": 36.0, "mass_2": 29.0, "a_1": 0.3, "a_2": 0.0, "tilt_1": 0.0, "tilt_2": 0.0, "phi_12": 0.0,
          "phi_jl": 0.0, "theta_jn": 0.4, "phase": 1.0, "ra": 1.2, "dec": -0.3, "psi": 0.7,
          "luminosity_distance": 1000.0}
#: A small aligned-spin bank: the source's own template and neighbours that match it less well.
BANK = {"mass1": [36.0, 30.0, 45.0, 20.0, 60.0], "mass2": [29.0, 25.0, 40.0, 15.0, 20.0],
        "spin1z": [0.3, 0.0, 0.5, -0.3, 0.0], "spin2z": [0.0, 0.0, 0.2, 0.0, -0.5]}


def write_noise(directory: Path, t0: int = T0, duration: int = DURATION, seed: int = 7) -> Path:
    """Simulated aLIGO noise in both ifos, named as the plan names test background files."""
    size = round(duration * RATE)
    strain = {ifo: np.concatenate(list(simulated_strain(ifo, PSD_NAME, t0, size, RATE, seed))) for ifo in IFOS}
    return write_background(directory / f"background-{t0}-{duration}.hdf5", strain, t0, RATE)


def write_bank(path: Path, columns: dict | None = None) -> Path:
    """A bank file in pycbc_brute_bank's layout."""
    columns = BANK if columns is None else columns
    with h5py.File(path, "w") as handle:
        for name, values in columns.items():
            handle[name] = np.asarray(values, dtype=np.float64)
        count = len(columns["mass1"])
        handle["approximant"] = np.array([b"IMRPhenomD"] * count)
        handle["f_lower"] = np.full(count, F_LOW)
    return path


def injection_time(index: int, at: float = 100.0) -> float:
    """A GPS time ``at`` s after the file's start, inside shift ``index``'s analysed span."""
    start, stop = timeslides.analysed_span(DURATION, SHIFTS, index, PSD_LENGTH)
    assert start < at < stop
    return T0 + at


def write_injection(path: Path, index: int, network_snr: float, at: float = 100.0) -> ResponseSet:
    """One IMRPhenomD injection in branch ``index``, scaled to ``network_snr`` against the noise's own PSD."""
    params = {key: np.array([value]) for key, value in SOURCE.items()}
    time = injection_time(index, at)
    plus, cross = generate_polarizations(params, "IMRPhenomD", RATE, WAVE_DURATION, RIGHT_PAD, 20.0, 50.0,
                                         dtype=np.float64)
    responses = project(plus, cross, params, IFOS, time, RATE)
    size = responses.shape[-1]
    psd = noise_psd(PSD_NAME, RATE, size)
    _, network = snr(responses, psd, RATE, F_LOW, RATE / 2 - 1)
    responses *= network_snr / network[0]
    per_ifo, network = snr(responses, psd, RATE, F_LOW, RATE / 2 - 1)
    parameters = {**{k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
                  "h1_snr": per_ifo[:, 0], "l1_snr": per_ifo[:, 1]}
    injections = ResponseSet(
        waveforms={ifo.lower(): responses[:, k].astype(np.float32) for k, ifo in enumerate(IFOS)}, snr=network,
        injection_time=np.array([time]), shift=np.array([timeslides.offsets(SHIFTS, index)]),
        parameters=parameters, ifos=list(IFOS), sample_rate=RATE, duration=WAVE_DURATION, right_pad=RIGHT_PAD,
        num_injections=1)
    injections.write(path)
    return injections


def arguments(bank: Path, injections: Path, output: Path, branches: list[tuple[int, Path]],
              expected_injections: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line the plan gives a reference filter node, for these inputs."""
    livetime = sum(timeslides.livetime(DURATION, SHIFTS, index, PSD_LENGTH) for index, _ in branches if index)
    args = [str(REFERENCE_BIN / "aframe-reference-filter"), "--bank", str(bank), "--injections", str(injections),
            "--ifos", ",".join(IFOS), "--shifts", ",".join(f"{s:g}" for s in SHIFTS), "--sample-rate", f"{RATE:g}",
            "--f-low", f"{F_LOW:g}", "--psd-length", f"{PSD_LENGTH:g}", "--cluster-length", f"{CLUSTER:g}",
            "--expected-livetime", repr(livetime), "--expected-injections", str(expected_injections),
            "--output", str(output), *extra]
    for index, path in branches:
        args += ["--branch", f"{index}:{path}"]
    return args


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=600)
