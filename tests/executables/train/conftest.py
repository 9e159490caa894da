"""Tiny synthetic inputs for aframe-train: white Gaussian background at 256 Hz and sine-Gaussian waveforms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from executables.formats.sets import ResponseSet, WaveformSet
from executables.formats.strain import write_background

SAMPLE_RATE = 256.0
IFOS = ("H1", "L1")
WAVE_DURATION = 4.0
RIGHT_PAD = 1.0

TINY_CONFIG = {
    "model": {"layers": [1, 1], "norm_groups": 8},
    "optimizer": {"learning_rate": 0.003, "pct_lr_ramp": 0.2},
    "data": {"batch_size": 16, "batches_per_epoch": 6, "psd_length": 4, "waveform_prob": 0.5,
             "snr": {"minimum": 10, "maximum": 40, "index": -1}},
    "validation": {"fraction": 0.25, "stride": 1.0, "num_views": 2, "livetime": 120, "pool_length": 2,
                   "batch_size": 64},
    "trainer": {"max_epochs": 2, "patience": 10, "log_every_n_steps": 1},
}


def sine_gaussians(count: int, rng: np.random.Generator, amplitude: float = 1.0, sample_rate: float = SAMPLE_RATE,
                   duration: float = WAVE_DURATION) -> tuple[np.ndarray, np.ndarray]:
    """Plus and cross sine-Gaussians (f0 30-60 Hz, tau 0.1-0.2 s) peaking ``RIGHT_PAD`` s before the end."""
    size = round(duration * sample_rate)
    t = (np.arange(size) - (size - RIGHT_PAD * sample_rate)) / sample_rate
    f0 = rng.uniform(30, 60, (count, 1))
    tau = rng.uniform(0.1, 0.2, (count, 1))
    envelope = amplitude * np.exp(-(t[None] / tau) ** 2)
    return ((envelope * np.sin(2 * math.pi * f0 * t)).astype(np.float32),
            (envelope * np.cos(2 * math.pi * f0 * t)).astype(np.float32))


def write_inputs(root: Path, *, background_seconds: float = 256.0, count: int = 64, seed: int = 0,
                 sample_rate: float = SAMPLE_RATE, names: dict[str, Path] | None = None,
                 planned: list[Path] = ()) -> dict[str, Path]:
    """Background, training waveforms, validation responses and train.yaml under ``root`` (or at ``names``).

    ``planned`` background files (``background-{t0}-{duration}.hdf5``, as a plan names them) are each written with
    the start and length their name says, the first standing as ``background``."""
    rng = np.random.default_rng(seed)
    paths = {"background": planned[0] if planned else root / "background.hdf5",
             "waveforms": root / "train_waveforms.hdf5", "validation": root / "val_waveforms.hdf5",
             "config": root / "train.yaml", **(names or {})}
    for path in [*paths.values(), *planned]:
        path.parent.mkdir(parents=True, exist_ok=True)
    spans = [tuple(map(float, path.stem.split("-")[-2:])) for path in planned] or \
        [(1_000_000_000.0, background_seconds)]
    for path, (start, seconds) in zip(planned or [paths["background"]], spans, strict=True):
        size = round(seconds * sample_rate)
        write_background(path, {ifo: rng.normal(size=size) for ifo in IFOS}, start, sample_rate)
    plus, cross = sine_gaussians(count, rng, sample_rate=sample_rate)
    WaveformSet(plus=plus, cross=cross, parameters={"f0": np.zeros(count)}, sample_rate=sample_rate,
                duration=WAVE_DURATION, right_pad=RIGHT_PAD, approximant="SineGaussian", prior="test",
                minimum_frequency=20.0, reference_frequency=50.0).write(paths["waveforms"])
    h1, l1 = sine_gaussians(count // 2, rng, amplitude=2.0, sample_rate=sample_rate)
    snr = np.full(count // 2, 12.0)
    ResponseSet(waveforms={"h1": h1, "l1": l1}, snr=snr, parameters={"h1_snr": snr / 2**0.5,
                                                                      "l1_snr": snr / 2**0.5},
                ifos=list(IFOS), sample_rate=sample_rate, duration=WAVE_DURATION,
                right_pad=RIGHT_PAD).write(paths["validation"])
    paths["config"].write_text(yaml.safe_dump(TINY_CONFIG), encoding="utf-8")
    return paths


def cli_args(inputs: dict[str, Path], run_dir: Path, **override: str) -> list[str]:
    options = {
        "--config": str(inputs["config"]), "--waveforms": str(inputs["waveforms"]),
        "--validation": str(inputs["validation"]), "--ifos": ",".join(IFOS), "--sample-rate": str(SAMPLE_RATE),
        "--highpass": "16", "--fduration": "0.5", "--kernel-length": "1", "--inference-sampling-rate": "4",
        "--seed": "1122", "--device": "cpu", "--checkpoint-minutes": "30", "--background": str(inputs["background"]),
        "--run-dir": str(run_dir),
    }
    options.update(override)
    args: list[str] = []
    for key, value in options.items():
        if value is not None:
            args += [key, value]
    return args


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("train-inputs"))
