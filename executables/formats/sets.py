"""The ledger sets of the data nodes: training polarizations, projected responses and rejected draws.

Stored in aframe's ledger layout (``executables.formats.ledger``)::

    WaveformSet  training polarizations  waveforms/plus, waveforms/cross; attrs sample_rate, duration, right_pad, ...
    ResponseSet  projected responses     waveforms/h1, waveforms/l1; parameters/snr, h1_snr, l1_snr
                                          (+ injection_time, shift for test injections); attrs ifos, sample_rate
    RejectedSet  rejected draws          parameters/ only

Each reads the file aframe writes for the same purpose too (``executables.formats.aframe``): its
``WaveformPolarizationSet`` (training), its validation ``WaveformSet`` and test ``ResponseSet`` (2-D
``parameters/ifo_snrs`` read as ``<ifo>_snr``), and its rejected ``InjectionParameterSet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from executables.common.errors import InputError
from executables.formats import aframe
from executables.formats.ledger import Ledger, PathLike, _as_str, _as_str_list, metadata, parameter, waveform


@dataclass(kw_only=True, eq=False)
class WaveformSet(Ledger):
    """Training polarizations: ``waveforms/plus`` and ``waveforms/cross`` (rows, duration · sample_rate) float32,
    coalescence ``right_pad`` seconds before the end, and the source parameters that made them."""

    plus: np.ndarray = waveform(doc="plus polarization")
    cross: np.ndarray = waveform(doc="cross polarization")
    parameters: dict[str, np.ndarray] = parameter(group=True, doc="source parameters, one array per name")
    sample_rate: float = metadata(doc="Hz")
    duration: float = metadata(doc="seconds per waveform")
    right_pad: float = metadata(doc="seconds from coalescence to the end")
    approximant: str | None = metadata(_as_str, optional=True, doc="lalsimulation approximant (not in aframe's)")
    prior: str | None = metadata(_as_str, optional=True, doc="prior name (not in aframe's files)")
    minimum_frequency: float | None = metadata(optional=True, doc="Hz (not in aframe's files)")
    reference_frequency: float | None = metadata(optional=True, doc="Hz (not in aframe's files)")

    def check(self) -> None:
        if self.plus.shape != self.cross.shape:
            raise ValueError(f"plus {self.plus.shape} and cross {self.cross.shape} differ in shape")
        samples = round(self.duration * self.sample_rate)
        if self.plus.shape[1] != samples:
            raise ValueError(f"waveforms have {self.plus.shape[1]} samples, duration x sample_rate is {samples}")
        if not 0 <= self.right_pad <= self.duration:
            raise ValueError(f"right_pad {self.right_pad} is outside [0, duration {self.duration}]")


def ifo_snr_name(ifo: str) -> str:
    """The parameter holding one ifo's SNR: ``h1_snr``."""
    return f"{ifo.lower()}_snr"


class _IfoSnrColumns:
    """Sets whose per-ifo SNRs aframe stores as one 2-D ``parameters/ifo_snrs``: read as ``<ifo>_snr``."""

    @classmethod
    def _columns(cls, path: PathLike, handle: h5py.Group) -> dict[str, tuple[str, int]]:
        return aframe.ifo_snr_columns(path, handle, ifo_snr_name)


@dataclass(kw_only=True, eq=False)
class ResponseSet(_IfoSnrColumns, Ledger):
    """Projected detector responses (validation waveforms and test injections): ``waveforms/<ifo>`` (rows, samples)
    float32 with ifo in lower case, network ``snr`` and per-ifo ``<ifo>_snr`` parameters, and for test injections
    ``injection_time`` (GPS, float64) and ``shift`` (rows, ifos; the timeslide of each ifo, float64)."""

    waveforms: dict[str, np.ndarray] = waveform(group=True, doc="response per ifo (h1, l1)")
    snr: np.ndarray = parameter(dtype=np.float64, doc="network SNR")
    injection_time: np.ndarray | None = parameter(dtype=np.float64, optional=True, doc="GPS time of coalescence")
    shift: np.ndarray | None = parameter(dtype=np.float64, optional=True, doc="(rows, ifos) time shift, s")
    parameters: dict[str, np.ndarray] = parameter(group=True, doc="source parameters and <ifo>_snr")
    ifos: list[str] = metadata(_as_str_list, doc="ifos in waveform order")
    sample_rate: float = metadata(doc="Hz")
    duration: float | None = metadata(optional=True, doc="seconds per response")
    right_pad: float | None = metadata(optional=True, doc="seconds from coalescence to the end")
    approximant: str | None = metadata(_as_str, optional=True, doc="lalsimulation approximant")
    prior: str | None = metadata(_as_str, optional=True, doc="prior name")
    minimum_frequency: float | None = metadata(optional=True, doc="Hz")
    reference_frequency: float | None = metadata(optional=True, doc="Hz")
    highpass: float | None = metadata(optional=True, doc="lower frequency of the SNR integral, Hz")
    snr_threshold: float | None = metadata(optional=True, doc="rows have snr >= this")
    psd: str | None = metadata(_as_str, optional=True, doc="the PSDs the SNRs are measured against")

    def check(self) -> None:
        expected = [ifo.lower() for ifo in self.ifos]
        if sorted(self.waveforms) != sorted(expected):
            raise ValueError(f"waveforms {sorted(self.waveforms)} do not match ifos {self.ifos}")
        lengths = {array.shape[1] for array in self.waveforms.values()}
        if len(lengths) > 1:
            raise ValueError(f"responses differ in length: {sorted(lengths)} samples")
        if self.duration is not None and lengths and lengths != {round(self.duration * self.sample_rate)}:
            raise ValueError(f"responses have {lengths.pop()} samples, duration x sample_rate is "
                             f"{round(self.duration * self.sample_rate)}")
        missing = [ifo_snr_name(ifo) for ifo in self.ifos if ifo_snr_name(ifo) not in self.parameters]
        if missing:
            raise ValueError(f"parameters {missing} are missing (one SNR per ifo)")
        if self.shift is not None and self.shift.shape != (len(self), len(self.ifos)):
            raise ValueError(f"shift has shape {self.shift.shape}, expected (rows, ifos) = "
                             f"{(len(self), len(self.ifos))}")

    def ifo_snrs(self) -> dict[str, np.ndarray]:
        """Per-ifo SNR by ifo name."""
        return {ifo: self.parameters[ifo_snr_name(ifo)] for ifo in self.ifos}


@dataclass(kw_only=True, eq=False)
class RejectedSet(_IfoSnrColumns, Ledger):
    """Parameters of every rejected draw (below the SNR threshold); they normalise the sensitive volume."""

    parameters: dict[str, np.ndarray] = parameter(group=True, doc="source parameters, one array per name")


LEDGERS: dict[str, type[Ledger]] = {cls.__name__: cls for cls in (WaveformSet, ResponseSet, RejectedSet)}

#: What ``aframe-merge --kind`` accepts: validation shards (ResponseSet) are merged with ``--kind waveforms`` too.
MERGE_KINDS: dict[str, tuple[type[Ledger], ...]] = {
    "waveforms": (WaveformSet, ResponseSet),
    "injections": (ResponseSet,),
    "rejected": (RejectedSet,),
}


def ledger_class(path: PathLike, handle: h5py.File) -> type[Ledger]:
    """The class of an open ledger file: its ``ledger`` attribute, or (aframe's files) its waveform datasets."""
    if "ledger" in handle.attrs:
        name = _as_str(handle.attrs["ledger"])
        if name not in LEDGERS:
            raise InputError(path, "ledger", f"unknown ledger kind {name!r} (known: {', '.join(LEDGERS)})")
        return LEDGERS[name]
    names = set(handle["waveforms"]) if isinstance(handle.get("waveforms"), h5py.Group) else set()
    if {"plus", "cross"} <= names:
        return WaveformSet
    return ResponseSet if names else RejectedSet
