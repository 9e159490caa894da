"""Background generation rate of `aframe-background` (simulated source) against a bare numpy coloured-noise loop.

Figure (issue 6, DESIGN §10), measured in one process: seconds of 2-ifo strain per second of wall time made by
``generate_background`` (1024 s frequency-domain blocks, cross-faded, float32 into a chunked HDF5 file) against a
bare loop that makes the same amount of coloured noise with numpy alone (complex Gaussian bins times the ASD,
``np.fft.irfft`` per 1024 s block, nothing written, no seams handled). Target: ratio >= 0.8. Both use a warm PSD
(computed before timing); each is timed several times, alternating, and the best time of each is kept.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from executables.data.background import BLOCK_SECONDS, generate_background, noise_psd

PSD = "aLIGODesignSensitivityT1800044"
IFOS = ("H1", "L1")
RATE = 2048
SECONDS = 8192
REPEATS = 3


def bare_numpy(seconds: int, asd: np.ndarray, rng: np.random.Generator) -> float:
    """The reference: per ifo and 1024 s block, draw complex bins, colour them, inverse FFT."""
    length = BLOCK_SECONDS * RATE
    checksum = 0.0
    for _ in IFOS:
        for _ in range(seconds // BLOCK_SECONDS):
            spectrum = (rng.standard_normal(asd.size) + 1j * rng.standard_normal(asd.size)) * asd
            checksum += float(np.fft.irfft(spectrum, length)[0])
    return checksum


def ours(seconds: int, directory: Path, index: int) -> None:
    output = directory / f"background-{index}.hdf5"
    generate_background(output, IFOS, 1_240_579_783, seconds, RATE, "simulated", [PSD], seed=index)
    output.unlink()


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else SECONDS
    length = BLOCK_SECONDS * RATE
    asd = np.sqrt(noise_psd(PSD, float(RATE), length) * RATE * length / 4.0)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-background-") as directory:
        ours(BLOCK_SECONDS, Path(directory), -1)  # warm the PSD cache and the imports
        best_ours = best_bare = float("inf")
        for index in range(REPEATS):
            start = time.perf_counter()
            bare_numpy(seconds, asd, rng)
            best_bare = min(best_bare, time.perf_counter() - start)
            start = time.perf_counter()
            ours(seconds, Path(directory), index)
            best_ours = min(best_ours, time.perf_counter() - start)
    rate_ours, rate_bare = seconds / best_ours, seconds / best_bare
    print(f"background ({len(IFOS)} ifos, {RATE} Hz, {seconds} s): aframe-background {rate_ours:,.0f} s/s, "
          f"bare numpy {rate_bare:,.0f} s/s, ratio {rate_ours / rate_bare:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
