"""PSD estimation and whitening, one definition for training and inference, so that a network is analysed with the
whitening it was trained on: ml4gw's ``SpectralDensity`` with mean averaging and ``Whiten`` with the run's
fduration, highpass and lowpass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import executables.common.torchcompat  # noqa: F401  (before ml4gw)

# isort: split
from ml4gw.transforms import SpectralDensity, Whiten

if TYPE_CHECKING:  # benchmarks/gpu_check.py imports this module where only torch, numpy and ml4gw are installed
    from executables.common.shared import DataParameters


def spectral_density(data: DataParameters, fftlength: float) -> SpectralDensity:
    """The PSD estimator: Welch segments of ``fftlength`` s at the run's sample rate, mean-averaged."""
    return SpectralDensity(data.sample_rate, fftlength, average="mean")


def whitener(data: DataParameters) -> Whiten:
    """The whitening filter: ``fduration`` s long, passing [highpass, lowpass] (lowpass None: up to Nyquist)."""
    return Whiten(data.fduration, data.sample_rate, data.highpass, data.lowpass)
