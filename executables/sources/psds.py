"""Design noise PSDs from lalsimulation: what simulated background is drawn from, and the truth its SNRs are
measured against."""

from __future__ import annotations

import functools

import numpy as np

#: Simulated noise has no power below this frequency (Hz); the design curves are meaningless far below it.
NOISE_FLOW = 10.0


@functools.lru_cache(maxsize=16)
def noise_psd(name: str, sample_rate: float, length: int) -> np.ndarray:
    """One-sided PSD (strain²/Hz) of lalsimulation's ``SimNoisePSD<name>`` on the rfft grid of ``length`` samples.

    Works for the tabulated curves (``aLIGODesignSensitivityT1800044``, which fill a frequency series) and the
    analytic ones (``aLIGOZeroDetHighPower``, evaluated through their function pointer or per frequency). Zero
    below ``NOISE_FLOW``; ``ValueError`` for a name lalsimulation does not know.
    """
    import lal
    import lalsimulation

    function = getattr(lalsimulation, f"SimNoisePSD{name}", None) if name.isalnum() else None
    if function is None or name == "FromFile":
        raise ValueError(f"unknown noise PSD {name!r}: lalsimulation has no SimNoisePSD{name}")
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    series = lal.CreateREAL8FrequencySeries("psd", 0, 0.0, sample_rate / length, lal.DimensionlessUnit,
                                            frequencies.size)
    series.data.data[:] = 0.0
    pointer = getattr(lalsimulation, f"SimNoisePSD{name}Ptr", None)
    try:
        if pointer is not None:
            lalsimulation.SimNoisePSD(series, NOISE_FLOW, pointer)
            psd = series.data.data.copy()
        else:
            try:
                function(series, NOISE_FLOW)
                psd = series.data.data.copy()
            except TypeError:  # an analytic PSD without a pointer: S(f) per frequency
                psd = np.zeros(frequencies.size)
                above = frequencies >= NOISE_FLOW
                psd[above] = np.vectorize(function, otypes=[float])(frequencies[above])
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"SimNoisePSD{name} is not a noise PSD lalsimulation can evaluate: {exc}") from None
    psd[frequencies < NOISE_FLOW] = 0.0
    if not np.all(np.isfinite(psd)) or np.any(psd < 0) or not np.any(psd > 0):
        raise ValueError(f"SimNoisePSD{name} gave a PSD that is not finite and positive")
    psd.setflags(write=False)
    return psd
