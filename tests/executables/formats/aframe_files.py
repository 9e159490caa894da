"""Small files in aframe's own layouts, written the way aframe writes them (no aframe code: its layout only).

From aframe @6a45a6e: ``libs/ledger/ledger/ledger.py`` ``Ledger.write`` (root ``length``; one plain, unchecksummed
dataset per parameter under ``parameters/`` and per waveform under ``waveforms/``, a group only where the set has
such fields; metadata as root attributes; no ``ledger`` attribute), ``libs/ledger/ledger/injections.py`` (the fields
of ``WaveformPolarizationSet``, ``WaveformSet``, ``InterferometerResponseSet``, ``InjectionParameterSet``),
``projects/data/data/waveforms/{training,validation,testing,rejection}.py`` (float64 arrays, ``ifo_snrs`` as one
(rows, ifos) dataset, ``shift`` as (rows, ifos), ``ifos`` a list of names) and ``projects/data/data/fetch/main.py``
(background: gwpy ``TimeSeriesDict.write(path, format="hdf5")`` to ``background-{start}-{duration}.hdf5``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
from gwpy.timeseries import TimeSeries, TimeSeriesDict

from executables.sources.priors import get_prior

#: The source parameters aframe stores (bilby's names; masses in the detector frame).
BILBY_PARAMETERS = ("mass_1", "mass_2", "a_1", "a_2", "tilt_1", "tilt_2", "phi_12", "phi_jl", "ra", "dec",
                    "redshift", "psi", "theta_jn", "phase")


def write_ledger(path: Path, parameters: Mapping[str, np.ndarray], waveforms: Mapping[str, np.ndarray],
                 attrs: Mapping[str, object], chunks: tuple[int, ...] | None = None) -> Path:
    """One aframe ledger file, as ``Ledger.write`` lays it out."""
    lengths = {len(value) for value in (*parameters.values(), *waveforms.values())}
    assert len(lengths) == 1, lengths
    with h5py.File(path, "w") as handle:
        handle.attrs["length"] = lengths.pop()
        for group, arrays in (("parameters", parameters), ("waveforms", waveforms)):
            if arrays:
                target = handle.create_group(group)
                for name, value in arrays.items():
                    target.create_dataset(name, data=np.asarray(value, dtype=np.float64),
                                          chunks=chunks if group == "waveforms" else None)
        for name, value in attrs.items():
            handle.attrs[name] = value
    return path


def bilby_parameters(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` draws of a BBH prior with aframe's parameter names only."""
    draws = get_prior("end_o3_ratesandpops").sample(count, np.random.default_rng(seed))
    return {name: draws[name] for name in BILBY_PARAMETERS}


def training_waveforms(path: Path, plus: np.ndarray, cross: np.ndarray, parameters: Mapping[str, np.ndarray], *,
                       sample_rate: int, duration: float, right_pad: float) -> Path:
    """aframe's training file: a ``WaveformPolarizationSet`` (projects/data ``training_waveforms``)."""
    attrs = {"sample_rate": sample_rate, "duration": duration, "right_pad": right_pad, "num_injections": len(plus)}
    return write_ledger(path, parameters, {"cross": cross, "plus": plus}, attrs,
                        chunks=(min(64, len(plus)), plus.shape[-1]))


def response_set(path: Path, responses: Mapping[str, np.ndarray], parameters: Mapping[str, np.ndarray],
                 ifo_snrs: np.ndarray, *, ifos: Sequence[str], sample_rate: int, duration: float, right_pad: float,
                 num_injections: int, injection_time: np.ndarray | None = None,
                 shift: np.ndarray | None = None) -> Path:
    """aframe's validation ``IfoWaveformSet`` or, with ``injection_time`` and ``shift``, its test ``ResponseSet``:
    one waveform per ifo (lower case), network ``snr`` and the (rows, ifos) ``ifo_snrs``."""
    values = {**parameters, "snr": np.sqrt((ifo_snrs**2).sum(axis=-1)), "ifo_snrs": ifo_snrs}
    if injection_time is not None:
        values.update(injection_time=injection_time, shift=shift)
    attrs = {"sample_rate": sample_rate, "duration": duration, "right_pad": right_pad,
             "num_injections": num_injections, "ifos": list(ifos)}
    return write_ledger(path, values, {ifo.lower(): responses[ifo] for ifo in ifos}, attrs)


def rejected_parameters(path: Path, parameters: Mapping[str, np.ndarray], ifo_snrs: np.ndarray, *,
                        ifos: Sequence[str]) -> Path:
    """aframe's ``rejected-parameters.hdf5``: an ``InjectionParameterSet`` (no waveforms, no ``num_injections``)."""
    values = {**parameters, "snr": np.sqrt((ifo_snrs**2).sum(axis=-1)), "ifo_snrs": ifo_snrs}
    return write_ledger(path, values, {}, {"ifos": list(ifos)})


def background(directory: Path, strain: Mapping[str, np.ndarray], t0: int, sample_rate: float) -> Path:
    """aframe's background file: float64 strain per ifo written by gwpy, named ``background-{t0}-{duration}``."""
    duration = int(len(next(iter(strain.values()))) / sample_rate)
    path = directory / f"background-{t0}-{duration}.hdf5"
    series = {ifo: TimeSeries(np.asarray(values, dtype=np.float64), t0=t0, sample_rate=sample_rate, name=ifo)
              for ifo, values in strain.items()}
    TimeSeriesDict(series).write(path, format="hdf5")
    return path
