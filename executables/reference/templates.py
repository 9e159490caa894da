"""The template bank in the frequency domain: every template at the filtering segments' resolution, with the
segment geometry its longest template needs.

A bank file is what ``pycbc_brute_bank`` writes (``mass1``, ``mass2``, ``spin1z``, ``spin2z``, ``approximant``,
``f_lower`` datasets, detector-frame masses in Msun). A segment of ``length`` s is filtered in one FFT; the SNR is
valid in ``[pad, length - pad)``: ``pad`` covers the longest template before its merger and half the inverse-PSD
filter on either side, so no valid sample wraps around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from pycbc.filter import sigmasq
from pycbc.types import FrequencySeries, zeros
from pycbc.waveform import get_waveform_filter, get_waveform_filter_length_in_time

from executables.common.errors import InputError

#: Datasets every bank file must hold.
COLUMNS = ("mass1", "mass2", "spin1z", "spin2z")


@dataclass(frozen=True)
class BankParameters:
    """The templates' parameters as the bank file gives them."""

    mass1: np.ndarray
    mass2: np.ndarray
    spin1z: np.ndarray
    spin2z: np.ndarray
    approximant: str

    def __len__(self) -> int:
        return len(self.mass1)

    def template(self, index: int) -> dict:
        """Keyword arguments of PyCBC's waveform functions for template ``index``."""
        return {"approximant": self.approximant, "mass1": float(self.mass1[index]),
                "mass2": float(self.mass2[index]), "spin1z": float(self.spin1z[index]),
                "spin2z": float(self.spin2z[index])}


def read_bank(path: Path) -> BankParameters:
    """The bank's templates; a missing column, an empty bank or mixed approximants is an ``InputError``."""
    with h5py.File(path, "r") as handle:
        missing = [name for name in (*COLUMNS, "approximant") if name not in handle]
        if missing:
            raise InputError(path, missing[0], "dataset missing (a pycbc_brute_bank file has it)")
        columns = {name: np.asarray(handle[name][()], dtype=np.float64) for name in COLUMNS}
        approximants = {value.decode() if isinstance(value, bytes) else str(value)
                        for value in handle["approximant"][()]}
    if not len(columns["mass1"]):
        raise InputError(path, "mass1", "the bank holds no template")
    if len(approximants) != 1:
        raise InputError(path, "approximant", f"one approximant expected, found {sorted(approximants)}")
    return BankParameters(**columns, approximant=approximants.pop())


@dataclass(frozen=True)
class Segmenting:
    """How long each filtered segment is and how much of each end is corrupted (s)."""

    length: float
    pad: float

    @classmethod
    def of(cls, bank: BankParameters, f_low: float, inverse_length: float, needed: float) -> Segmenting:
        """The shortest power-of-two ``length`` whose valid part is at least ``needed`` s and half the segment."""
        longest = max(get_waveform_filter_length_in_time(f_lower=f_low, **bank.template(k)) for k in range(len(bank)))
        pad = math.ceil(longest + inverse_length / 2 + 0.5)
        length = 2.0 ** math.ceil(math.log2(max(needed + 2 * pad, 4 * pad)))
        return cls(length, float(pad))


class FilterBank:
    """Every template of ``bank`` as a frequency series of a ``length`` s segment at ``sample_rate``, with its
    normalisation against one PSD (``normalise``)."""

    def __init__(self, bank: BankParameters, sample_rate: float, length: float, f_low: float) -> None:
        self.f_low, self.sample_rate, self.length = f_low, sample_rate, length
        size = round(length * sample_rate) // 2 + 1
        self.templates = []
        for index in range(len(bank)):
            out = zeros(size, dtype=np.complex128)
            self.templates.append(get_waveform_filter(out, delta_f=1.0 / length, delta_t=1.0 / sample_rate,
                                                      f_lower=f_low, **bank.template(index)))

    def __len__(self) -> int:
        return len(self.templates)

    def normalise(self, psd: FrequencySeries) -> list[float]:
        """Each template's sigma squared against ``psd`` (what the SNR is divided by)."""
        return [sigmasq(template, psd, low_frequency_cutoff=self.f_low) for template in self.templates]
