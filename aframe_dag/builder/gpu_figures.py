"""The GPU rates the build estimates use: one table, the figures `benchmarks/gpu_check.py` measured (copied from
BENCHMARKS.md, "GPU check", with the card and date), or the issue's targets while nothing is measured.

A GPU run that measures them changes `MEASURED` (and only it); the estimates then name the card they came from.
"""

from __future__ import annotations

from typing import NamedTuple


class GpuFigures(NamedTuple):
    """Rates of aframe's default network ([3, 4, 6, 3], GroupNorm 16, 2 ifos x 3072 samples) on one GPU."""

    source: str  # the card and date of the measurement, or why these are not measured
    training_samples_per_s: float  # bare training step, fp32/TF32, batch 384
    training_bf16_samples_per_s: float  # the same step under bf16 autocast
    inference_data_s_per_s: float | None  # s of 2-ifo data per s at 4 Hz, batch 128, fastest backend (None: unknown)


#: BENCHMARKS.md, "GPU check": nothing measured yet (no GPU machine has run benchmarks/gpu_check.py). When one
#: does: GpuFigures("<card> (<date>, benchmarks/gpu_check.py)", <training fp32 samples/s>, <training bf16 samples/s>,
#: <best inference s/s>).
MEASURED: GpuFigures | None = None
#: Issue 23's H100 training targets (BENCHMARKS.md), assumed until `MEASURED` is set; inference is then taken as a
#: third of a training step (its 20,000 s/s target is not assumed: nothing has come near it yet).
TARGETS = GpuFigures("not measured: issue 23's H100 target", 2800.0, 4600.0, None)
#: The network, input and inference rate the figures are of: ((layers), ifos, samples), windows per second of data.
REFERENCE = ((3, 4, 6, 3), 2, 3072)
REFERENCE_RATE = 4.0


def gpu_figures() -> GpuFigures:
    """The measured figures where they exist, else the targets (their source says which)."""
    return MEASURED or TARGETS
