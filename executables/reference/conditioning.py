"""The data as the matched filter sees it: high-passed strain and its PSD, estimated from background only.

``condition`` high-passes a stretch of strain (PyCBC's Butterworth, corner ``HIGHPASS_FRACTION`` of the filter's low
frequency cutoff, so the filtered band is untouched); ``background_psd`` is the median Welch PSD of a whole file's
conditioned background, interpolated to the filtering segments' resolution and made a short filter by PyCBC's
inverse-spectrum truncation (``inverse_length`` s). Injected data are always filtered with the PSD of the background
around them, never with one estimated from the injections, as the network's whitening.
"""

from __future__ import annotations

import numpy as np
from pycbc.filter import highpass
from pycbc.psd import interpolate, inverse_spectrum_truncation, welch
from pycbc.types import FrequencySeries, TimeSeries

#: The high-pass corner as a fraction of the low frequency cutoff.
HIGHPASS_FRACTION = 0.8


def condition(strain: np.ndarray, sample_rate: float, t0: float, f_low: float) -> TimeSeries:
    """``strain`` (float64 samples from GPS ``t0``) high-passed below the band the templates cover."""
    series = TimeSeries(np.asarray(strain, dtype=np.float64), delta_t=1.0 / sample_rate, epoch=t0)
    return highpass(series, HIGHPASS_FRACTION * f_low)


def background_psd(conditioned: TimeSeries, segment: float, delta_f: float, f_low: float,
                   inverse_length: float) -> FrequencySeries:
    """The median Welch PSD (``segment`` s, half overlap) at ``delta_f`` Hz, truncated to ``inverse_length`` s."""
    rate = conditioned.sample_rate
    samples = round(segment * rate)
    psd = welch(conditioned, seg_len=samples, seg_stride=samples // 2, avg_method="median")
    psd = interpolate(psd, delta_f)
    return inverse_spectrum_truncation(psd, round(inverse_length * rate), low_frequency_cutoff=f_low,
                                       trunc_method="hann")
