"""Training-step throughput of `aframe-train` against a bare forward+backward+AdamW loop (issue 9, DESIGN §10).

Figure, measured in one process on the same network and batch shape: samples per second of a full training step
as ``aframe-train`` runs it (CPU draw of a ``BatchStream`` batch — non-coincident background windows and the
polarizations to inject — transfer, then on the device: PSD from the leading ``psd_length`` s, projection, SNR
rescaling, swap/mute, inversion/reversal, injection, whitening; then forward, BCE, backward, AdamW step) against
the bare step alone on tensors made beforehand. Target: ratio >= 0.75. Inputs are synthetic (white background,
sine-Gaussian polarizations) written to a temporary directory. Each loop is timed in alternating rounds; the best
round of each is kept.

    python benchmarks/bench_train.py                      # CPU: ResNet1D [1, 1], batch 32 (a CPU-sized step)
    python benchmarks/bench_train.py --device cuda --layers 3,4,6,3 --batch-size 384   # the default model on a GPU
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from executables.formats.sets import WaveformSet
from executables.formats.strain import write_background
from executables.train.config import DEFAULTS, Shared
from executables.train.data import BatchStream, Geometry, WaveformBank, load_background
from executables.train.module import AframeModule, shared_dict

RATE = 2048.0
IFOS = ("H1", "L1")


def write_inputs(root: Path, seconds: float, count: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    background = write_background(root / "background.hdf5",
                                  {ifo: rng.normal(size=round(seconds * RATE)) for ifo in IFOS}, 1e9, RATE)
    duration, pad = 8.0, 2.0
    t = (np.arange(round(duration * RATE)) - (duration - pad) * RATE) / RATE
    f0, tau = rng.uniform(30, 200, (count, 1)), rng.uniform(0.05, 0.3, (count, 1))
    envelope = np.exp(-(t[None] / tau) ** 2)
    waves = root / "waveforms.hdf5"
    WaveformSet(plus=(envelope * np.sin(2 * math.pi * f0 * t)).astype(np.float32),
                cross=(envelope * np.cos(2 * math.pi * f0 * t)).astype(np.float32),
                parameters={"f0": f0[:, 0]}, sample_rate=RATE, duration=duration, right_pad=pad,
                approximant="SineGaussian", prior="bench", minimum_frequency=20.0,
                reference_frequency=50.0).write(waves)
    return background, waves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", default="1,1")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    config = {section: dict(values) for section, values in DEFAULTS.items()}
    config["model"]["layers"] = [int(n) for n in args.layers.split(",")]
    config["data"]["batch_size"] = args.batch_size
    config["data"]["batches_per_epoch"] = args.steps
    shared = Shared(IFOS, RATE, 32.0, None, 1.0, 1.5, 4.0, 1122)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as directory:
        background, waves = write_inputs(Path(directory), 512.0, 256)
        geometry = Geometry.of(shared, float(config["data"]["psd_length"]))
        segments, _ = load_background([background], shared, 0.25, geometry.sample_size)
        bank = WaveformBank(waves, shared, 4.0)
    module = AframeModule(config, shared_dict(shared)).to(device)
    stream = BatchStream(segments, bank, config["data"], geometry, shared.seed, lambda: (0, 0))
    optimizer = torch.optim.AdamW(module.model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(X: torch.Tensor, y: torch.Tensor) -> None:
        loss = loss_fn(module.model(X), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    X0, y0 = module.injector({k: v.to(device) for k, v in stream.batch(0, 0).items()})
    X_bare, y_bare = torch.randn_like(X0), (torch.rand_like(y0) < 0.3).float()
    step(X0, y0)  # warm up both paths
    best_ours = best_bare = float("inf")
    for round_ in range(args.rounds):
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            step(X_bare, y_bare)
        sync()
        best_bare = min(best_bare, time.perf_counter() - start)
        start = time.perf_counter()
        for index in range(args.steps):
            batch = {k: v.to(device, non_blocking=True) for k, v in stream.batch(round_, index).items()}
            with torch.no_grad():
                X, y = module.injector(batch)
            step(X, y)
        sync()
        best_ours = min(best_ours, time.perf_counter() - start)
    samples = args.steps * args.batch_size
    ours, bare = samples / best_ours, samples / best_bare
    print(f"train step ({device.type}, layers {config['model']['layers']}, batch {args.batch_size}, "
          f"{len(IFOS)} ifos x {round(1.5 * RATE)} samples): aframe-train {ours:,.1f} samples/s, bare "
          f"{bare:,.1f} samples/s, ratio {ours / bare:.2f} (target >= 0.75)")


if __name__ == "__main__":
    main()
