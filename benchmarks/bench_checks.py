"""What checking data costs (issue 19): value checks, HDF5 checksums and done-marker digests against bare I/O.

Figures, each a ratio measured in one process on the same data (best of ``--rounds``):

1. strain checks / bare read: ``read_background``'s NaN/infinity and zero-over-a-PSD-window checks (64 s PSD) on
   4096 s of 2-ifo 2048 Hz strain, against reading the same span from the page cache with h5py into float64.
2. ledger checks / bare read: the NaN/infinity check of 512 responses (2 ifos, 8 s at 2048 Hz) against reading
   them with h5py.
3. checksummed / plain, write and read: the same datasets written and read with fletcher32 and without.
4. marker digest / write: the SHA-1 a done-marker records of a 64 MiB output against writing that output.

These compare the checks with the cheapest thing a node does with the data. The target of issue 19 is the checks'
share of a node's time (<= 5 %): ``bench_infer.py`` measures it for inference, the node that reads the most strain
for the least work per sample; training and the waveform nodes read their strain once, before minutes of work.

    python benchmarks/bench_checks.py --rounds 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from aframe_dag.nodecheck import describe_output
from executables.common.hdf5 import create_dataset, first_nonfinite, first_zero_run

RATE, SECONDS, PSD_LENGTH, IFOS = 2048, 4096, 64.0, ("H1", "L1")


def best(function, rounds: int) -> float:
    """Fastest of ``rounds`` calls, seconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def write(path: Path, arrays: dict[str, np.ndarray], checksum: bool) -> None:
    with h5py.File(path, "w") as handle:
        for name, array in arrays.items():
            if checksum:
                create_dataset(handle, name, data=array)
            else:
                handle.create_dataset(name, data=array, chunks=(min(16384, array.shape[0]), *array.shape[1:]))


def read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()].astype(np.float64, copy=False) for name in handle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    rng = np.random.default_rng(0)
    strain = {ifo: (rng.normal(size=RATE * SECONDS) * 1e-21).astype(np.float32) for ifo in IFOS}
    responses = {"h1": rng.normal(size=(512, 8 * RATE)).astype(np.float32),
                 "l1": rng.normal(size=(512, 8 * RATE)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root / "strain.h5", strain, checksum=True)
        write(root / "responses.h5", responses, checksum=True)
        loaded = read(root / "strain.h5")
        window = round(PSD_LENGTH * RATE)

        def strain_checks() -> None:
            for samples in loaded.values():
                assert first_nonfinite(samples) is None and first_zero_run(samples, window) is None

        rows = read(root / "responses.h5")
        figures = {
            "strain checks / bare read": best(strain_checks, rounds) / best(lambda: read(root / "strain.h5"), rounds),
            "ledger checks / bare read": best(lambda: [first_nonfinite(a) for a in rows.values()], rounds)
            / best(lambda: read(root / "responses.h5"), rounds),
        }
        for name, arrays in (("strain", strain), ("responses", responses)):
            plain, summed = root / f"{name}-plain.h5", root / f"{name}-summed.h5"
            figures[f"{name}: checksummed / plain write"] = (
                best(lambda a=arrays, p=summed: write(p, a, True), rounds)
                / best(lambda a=arrays, p=plain: write(p, a, False), rounds))
            figures[f"{name}: checksummed / plain read"] = (best(lambda p=summed: read(p), rounds)
                                                           / best(lambda p=plain: read(p), rounds))
        output = root / "output.bin"
        payload = rng.bytes(64 * 2**20)
        output.write_bytes(payload)
        figures["marker digest (64 MiB) / write"] = (best(lambda: describe_output(output), rounds)
                                                     / best(lambda: output.write_bytes(payload), rounds))
    for name, value in figures.items():
        print(f"{name:40s} {value:6.3f}")


if __name__ == "__main__":
    main()
