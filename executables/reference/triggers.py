"""Single-detector triggers: each template's SNR peaks above a threshold, clustered per template.

A conditioned stretch of one ifo's strain is cut into overlapping segments (``templates.Segmenting``); each segment
is Fourier transformed once and correlated with every template by PyCBC's ``matched_filter`` (complex SNR normalised
by the template's sigma against the background PSD). Of each template's valid samples, those with ``|SNR|`` above
``threshold`` are clustered by PyCBC's FindChirp clustering over ``window`` s, and each survivor is a trigger: its
GPS time (the template's merger), ``|SNR|`` and template index. Consecutive segments' valid parts tile the stretch
without overlap, so no sample is searched twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pycbc.events import findchirp_cluster_over_window
from pycbc.filter import matched_filter
from pycbc.types import FrequencySeries, TimeSeries

from executables.reference.templates import FilterBank


@dataclass
class Triggers:
    """One ifo's triggers: GPS ``time`` (s), ``snr`` (``|SNR|``) and ``template`` (index in the bank)."""

    time: np.ndarray
    snr: np.ndarray
    template: np.ndarray

    @classmethod
    def empty(cls) -> Triggers:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))

    @classmethod
    def concatenate(cls, parts: list[Triggers]) -> Triggers:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("time", "snr", "template")))

    def __len__(self) -> int:
        return len(self.time)

    def moved(self, seconds: float) -> Triggers:
        """The same triggers ``seconds`` earlier (a timeslid ifo's triggers on the analysis clock)."""
        return Triggers(self.time - seconds, self.snr, self.template)

    def within(self, start: float, stop: float) -> Triggers:
        """Those with ``start <= time < stop``."""
        keep = (self.time >= start) & (self.time < stop)
        return Triggers(self.time[keep], self.snr[keep], self.template[keep])


def segment_triggers(segment: TimeSeries, psd: FrequencySeries, bank: FilterBank, norms: list[float],
                     valid: tuple[int, int], threshold: float, window: float) -> Triggers:
    """Triggers of one segment (as long as the bank's templates) from its samples ``valid[0] .. valid[1] - 1``."""
    stilde = segment.to_frequencyseries()
    rate = segment.sample_rate
    first, stop = valid
    parts = []
    for index, (template, norm) in enumerate(zip(bank.templates, norms, strict=True)):
        snr = matched_filter(template, stilde, psd=psd, low_frequency_cutoff=bank.f_low, sigmasq=norm)
        magnitude = np.abs(snr.numpy()[first:stop])
        above = np.flatnonzero(magnitude > threshold)
        if not len(above):
            continue
        kept = above[findchirp_cluster_over_window(above, magnitude[above], max(1, round(window * rate)))]
        parts.append(Triggers(float(segment.start_time) + (first + kept) / rate, magnitude[kept],
                              np.full(len(kept), index, dtype=np.int64)))
    return Triggers.concatenate(parts)


def segment_starts(samples: int, length: int, pad: int) -> list[tuple[int, int, int]]:
    """``(start, first valid, stop valid)`` sample triples whose valid parts tile ``[pad, samples - pad)``."""
    if samples < length:
        raise ValueError(f"{samples} samples are fewer than one {length}-sample filtering segment")
    step, tiles, covered = length - 2 * pad, [], pad
    start = 0
    while covered < samples - pad:
        start = min(start, samples - length)
        tiles.append((start, covered, start + length - pad))
        covered = start + length - pad
        start += step
    return tiles


def stretch_triggers(conditioned: TimeSeries, psd: FrequencySeries, bank: FilterBank, norms: list[float],
                     pad: float, threshold: float, window: float) -> Triggers:
    """Triggers of a whole conditioned stretch, except its first and last ``pad`` s (no valid SNR there)."""
    rate = conditioned.sample_rate
    length, margin = round(bank.length * rate), round(pad * rate)
    data = conditioned.numpy()
    parts = []
    for start, first, stop in segment_starts(len(data), length, margin):
        segment = TimeSeries(data[start:start + length], delta_t=1.0 / rate,
                             epoch=float(conditioned.start_time) + start / rate)
        parts.append(segment_triggers(segment, psd, bank, norms, (first - start, stop - start), threshold, window))
    return Triggers.concatenate(parts)
