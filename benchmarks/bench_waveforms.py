"""Waveform generation rate per core: ``signals.generate_polarizations`` against bare lalsimulation (issue 6).

Both sides generate the same end_o3_ratesandpops draws with the same approximant (IMRPhenomPv2, 2048 Hz, 8 s, f_min
20 Hz, f_ref 50 Hz, aframe's defaults) in this process on one core. The bare side is only the
``SimInspiralChooseTDWaveform`` calls, with the spin conversion and the frequency rule done beforehand, outside the
clock; ours includes converting parameters, placing, tapering and casting to float32. Primary figure: our rate /
bare rate (target >= 0.8). Usage: ``python benchmarks/bench_waveforms.py [N]``.
"""

from __future__ import annotations

import sys
import time

import lalsimulation
import numpy as np

from executables.sources.priors import get_prior
from executables.sources.signals import MPC_SI, MSUN_SI, WaveformSettings, lal_parameters

SETTINGS = WaveformSettings("IMRPhenomPv2", 2048.0, 8.0, 2.0, 20.0, 50.0)


def bare(params: dict[str, np.ndarray]) -> float:
    """Seconds for the lalsimulation calls alone."""
    f_min, f_ref = SETTINGS.frequencies(params["mass_1"] + params["mass_2"])
    spins = lal_parameters(params, f_ref)
    arguments = [
        (params["mass_1"][i] * MSUN_SI, params["mass_2"][i] * MSUN_SI,
         *(spins[key][i] for key in ("spin1x", "spin1y", "spin1z", "spin2x", "spin2y", "spin2z")),
         params["luminosity_distance"][i] * MPC_SI, spins["inclination"][i], params["phase"][i], 0.0, 0.0, 0.0,
         1.0 / SETTINGS.sample_rate, f_min[i], f_ref[i], None, SETTINGS.code)
        for i in range(len(params["mass_1"]))
    ]
    start = time.perf_counter()
    for args in arguments:
        lalsimulation.SimInspiralChooseTDWaveform(*args)
    return time.perf_counter() - start


def ours(params: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    SETTINGS.generate(params, workers=1)
    return time.perf_counter() - start


def main(count: int = 300, repeats: int = 3) -> float:
    params = get_prior("end_o3_ratesandpops").sample(count, np.random.default_rng(2024))
    ours(params)  # warm caches
    bare_times, our_times = [], []
    for _ in range(repeats):  # interleaved, best of each: the machine is noisy
        bare_times.append(bare(params))
        our_times.append(ours(params))
    bare_seconds, our_seconds = min(bare_times), min(our_times)
    ratio = bare_seconds / our_seconds
    print(f"waveforms ({SETTINGS.approximant}, {SETTINGS.duration:g} s at {SETTINGS.sample_rate:g} Hz, {count} "
          f"end_o3_ratesandpops draws, 1 core): ours {count / our_seconds:.0f}/s, bare lalsimulation "
          f"{count / bare_seconds:.0f}/s, ratio {ratio:.2f} (target >= 0.8)")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
