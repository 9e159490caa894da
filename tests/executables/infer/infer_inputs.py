"""Tiny inputs for aframe-infer tests: white background files, loud sine-Gaussian injections, a model repository.

The "network" is ``PowerModel``: log of the mean power of the whitened window, a logit that a loud signal raises.
It has no weights, so its ONNX and TorchScript copies agree and no training is needed. Sizes: 256 Hz, 1 s kernel
and fduration, 4 Hz inference, 8 s PSD, 1 s integration, 4 s clusters; a 64 s file gives 55 s of livetime at
shift 1 (``shifts = 0,1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from aframe_dag import timeslides
from executables.export.checks import run_checks, write_checks
from executables.formats.sets import ResponseSet
from executables.formats.strain import write_background
from executables.repository.program import check_windows, export_program

RATE = 256.0
IFOS = ("H1", "L1")
SHIFTS = (0.0, 1.0)
KERNEL = 1.0
FDURATION = 1.0
INFERENCE_RATE = 4.0
PSD_LENGTH = 8.0
FFTLENGTH = 1.0
INTEGRATION = 1.0
CLUSTER = 4.0
BATCH = 16
T0 = 1_000_000_000
WAVE_DURATION, RIGHT_PAD = 4.0, 1.0
MODEL = "aframe"


class PowerModel(torch.nn.Module):
    """Logit = log of the mean square of the whitened window: about 0 on noise, large on a loud signal."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.mean(x * x, dim=(1, 2))).unsqueeze(1)


def config_text(ifos: int, kernel: int, max_batch: int = BATCH) -> str:
    """``config.pbtxt`` of the contract: input ``whitened`` [ifos, kernel], output ``discriminator`` [1]."""
    return (f'name: "{MODEL}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch}\n'
            f'input [ {{ name: "whitened" data_type: TYPE_FP32 dims: [ {ifos}, {kernel} ] }} ]\n'
            'output [ { name: "discriminator" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')


def write_repository(root: Path, kernel: int = round(KERNEL * RATE), ifos: int = len(IFOS)) -> Path:
    """A model repository as aframe-export lays it out, for a network taking (batch, ifos, kernel)."""
    version = root / MODEL / "1"
    version.mkdir(parents=True)
    model = PowerModel().eval()
    example = torch.randn(2, ifos, kernel)
    torch.onnx.export(model, (example,), str(version / "model.onnx"), dynamo=False, input_names=["whitened"],
                      output_names=["discriminator"], dynamic_axes={"whitened": {0: "batch"},
                                                                    "discriminator": {0: "batch"}})
    torch.jit.script(model).save(str(version / "model.pt"))
    program = export_program(model, ifos, kernel, BATCH)
    torch.export.save(program, version / "model.pt2")
    windows = check_windows(4, ifos, kernel)
    expected, checks = run_checks(model, program, version / "model.onnx", windows, "fp32", "cpu", 1e-4)
    write_checks(version, windows, expected, checks)
    (root / MODEL / "config.pbtxt").write_text(config_text(ifos, kernel), encoding="utf-8")
    return root


def write_file(directory: Path, t0: int, duration: int, seed: int, held: float | None = None) -> Path:
    """White Gaussian strain named as the plan names it; ``held`` seconds stored (a short file) if given."""
    rng = np.random.default_rng(seed)
    size = round((duration if held is None else held) * RATE)
    return write_background(directory / f"background-{t0}-{duration}.hdf5",
                            {ifo: rng.normal(size=size) for ifo in IFOS}, t0, RATE)


def slots(t0: int, duration: int, index: int, spacing: float = 16.0, buffer: float = 8.0) -> list[float]:
    """GPS times of the injections of one branch, as the injections node spaces them."""
    return [t0 + offset for offset in timeslides.injection_times(duration, SHIFTS, index, PSD_LENGTH, spacing, buffer)]


def sine_gaussian(count: int, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Responses (count, samples), peaking ``RIGHT_PAD`` s before their end (the coalescence sample)."""
    size = round(WAVE_DURATION * RATE)
    t = (np.arange(size) - (size - RIGHT_PAD * RATE)) / RATE
    f0 = rng.uniform(40, 80, (count, 1))
    return (amplitude * np.exp(-(t[None] / 0.1) ** 2) * np.sin(2 * math.pi * f0 * t)).astype(np.float32)


def write_injections(path: Path, placements: Sequence[tuple[int, int, int]], amplitude: float = 30.0,
                     seed: int = 1) -> ResponseSet:
    """A ResponseSet with injections in the branches ``(t0, duration, shift index)`` (in that order)."""
    rng = np.random.default_rng(seed)
    times, shifts = [], []
    for t0, duration, index in placements:
        branch = slots(t0, duration, index)
        times += branch
        shifts += [timeslides.offsets(SHIFTS, index)] * len(branch)
    count = len(times)
    snr = np.full(count, 50.0)
    injections = ResponseSet(
        waveforms={ifo.lower(): sine_gaussian(count, rng, amplitude) for ifo in IFOS}, snr=snr,
        injection_time=np.asarray(times), shift=np.asarray(shifts, dtype=np.float64).reshape(count, len(IFOS)),
        parameters={"h1_snr": snr / 2**0.5, "l1_snr": snr / 2**0.5, "mass_1": rng.uniform(10, 50, count),
                    "mass_2": rng.uniform(5, 10, count)},
        ifos=list(IFOS), sample_rate=RATE, duration=WAVE_DURATION, right_pad=RIGHT_PAD, num_injections=2 * count)
    injections.write(path)
    return injections


def livetime(duration: int, index: int) -> float:
    return timeslides.livetime(duration, SHIFTS, index, PSD_LENGTH)


def arguments(repository: Path, injections: Path, output: Path, branches: Sequence[tuple[int, Path]],
              expected_livetime: float, expected_injections: int, server: str = "onnxruntime",
              extra: Sequence[str] = ()) -> list[str]:
    """The command line the plan gives an infer node, for these inputs."""
    args = ["--repository", str(repository), "--model-name", MODEL, "--injections", str(injections),
            "--ifos", ",".join(IFOS), "--shifts", "0,1", "--sample-rate", "256", "--kernel-length", "1",
            "--fduration", "1", "--highpass", "16", "--inference-sampling-rate", "4", "--batch-size", str(BATCH),
            "--psd-length", "8", "--fftlength", "1", "--integration-length", "1", "--cluster-length", "4",
            "--server", server, "--device", "cpu", "--expected-livetime", repr(expected_livetime),
            "--expected-injections", str(expected_injections), "--output", str(output), *extra]
    for index, path in branches:
        args += ["--branch", f"{index}:{path}"]
    return args


def make_bundle(root: Path) -> dict:
    """Two 64 s files; branches: zero-lag and shifts 1, 2 of the first, shift 1 of the second; injections in the
    shifted branches of the first file. Returns what a test needs to build the command line and check results."""
    repository = write_repository(root / "model_repo")
    first, second = write_file(root, T0, 64, seed=0), write_file(root, T0 + 64, 64, seed=1)
    injections = write_injections(root / "injections.hdf5", [(T0, 64, 1), (T0, 64, 2)])
    return {"root": root, "repository": repository, "injections": root / "injections.hdf5", "rows": injections,
            "branches": [(0, first), (1, first), (2, first), (1, second)],
            "livetime": livetime(64, 1) + livetime(64, 2) + livetime(64, 1), "count": len(injections)}


def bundle_arguments(bundle: dict, output: Path, **changes) -> list[str]:
    """``arguments`` for a ``make_bundle`` bundle, with keyword changes (expected_livetime, server, extra, ...)."""
    values = {"expected_livetime": bundle["livetime"], "expected_injections": bundle["count"],
              "branches": bundle["branches"]}
    values.update(changes)
    return arguments(bundle["repository"], bundle["injections"], output, **values)
