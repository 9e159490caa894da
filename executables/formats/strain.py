"""Background strain files (``background-{t0}-{dur}.hdf5``), written by ``aframe-background``, read by every stage.

One root dataset per ifo (``H1``, ``L1``; float32 on disk, chunked) with the attributes gwpy's HDF5 reader uses,
``x0`` (GPS start), ``dx`` (1 / sample rate) and ``xunit`` (``"s"``), so
``gwpy.timeseries.TimeSeriesDict.read(path, format="hdf5")`` gives the right times. ``write_background`` and
``BackgroundWriter`` write it; ``read_background`` reads a span of it (float32 or float64, the latter being aframe's
own files) as float64. Root attributes ``sample_rate``, ``t0``, ``duration`` and the ``-{t0}-{dur}.hdf5`` name, where
a file has them, must agree with the datasets' ``dx``, ``x0`` and length: a contradiction is an ``InputError``
naming both values. Strain that fails its HDF5 checksum or holds a NaN or an infinity is an ``InputError`` naming
the file, ifo and GPS time.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from executables.common import hdf5
from executables.common.atomic import atomic_path
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5

PathLike = str | os.PathLike[str]

#: Samples per chunk of a background dataset (8 s at 2048 Hz, 64 KiB of float32).
BACKGROUND_CHUNK = 16384
#: The span in a strain file's name: ``background-{t0}-{duration}.hdf5`` (ours, aframe's), ``PREFIX-{t0}-{dur}.hdf5``.
STRAIN_NAME = re.compile(r"-(?P<t0>\d+(?:\.\d+)?)-(?P<duration>\d+(?:\.\d+)?)\.hdf5$")


@dataclass(frozen=True)
class BackgroundInfo:
    """What a background file holds, read from its attributes alone."""

    ifos: tuple[str, ...]
    t0: float
    sample_rate: float
    num_samples: int
    dtype: np.dtype

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


def _is_strain(dataset: Any) -> bool:
    return isinstance(dataset, h5py.Dataset) and dataset.ndim == 1 and "x0" in dataset.attrs \
        and "dx" in dataset.attrs


def _background_info(path: PathLike, handle: h5py.File, ifos: Sequence[str] | None) -> BackgroundInfo:
    if ifos is None:
        ifos = sorted(name for name in handle if _is_strain(handle[name]))
        if not ifos:
            raise InputError(path, None, "no strain datasets (1-D datasets with x0 and dx attributes)")
    first = None
    for ifo in ifos:
        dataset = hdf5.dataset(path, handle, ifo)
        if dataset.ndim != 1:
            raise InputError(path, ifo, f"strain must be 1-D, got shape {dataset.shape}")
        if dataset.dtype.kind != "f":
            raise InputError(path, ifo, f"strain must be floating point, got {dataset.dtype}")
        for attr in ("x0", "dx"):
            if attr not in dataset.attrs:
                raise InputError(path, ifo, f"attribute {attr!r} missing")
        x0, dx = float(dataset.attrs["x0"]), float(dataset.attrs["dx"])
        if not dx > 0:
            raise InputError(path, ifo, f"dx must be positive, got {dx}")
        if first is None:
            first = (ifo, x0, dx, dataset.shape[0], dataset.dtype)
            continue
        name, x0_first, dx_first, size, _ = first
        if not math.isclose(dx, dx_first, rel_tol=1e-9):
            raise InputError(path, ifo, f"sample rate {1 / dx:g} Hz differs from {1 / dx_first:g} Hz of {name}")
        if abs(x0 - x0_first) > dx_first / 2 or dataset.shape[0] != size:
            raise InputError(path, ifo, f"spans [{x0}, +{dataset.shape[0] * dx:g} s), {name} spans "
                                        f"[{x0_first}, +{size * dx_first:g} s)")
    assert first is not None
    info = BackgroundInfo(tuple(ifos), first[1], 1.0 / first[2], first[3], first[4])
    _check_stated(path, handle, info)
    return info


def _stated(path: PathLike, handle: h5py.File) -> list[tuple[str, str, float]]:
    """What a file says of its span besides its datasets, as (where, quantity, value): root attributes and its name
    (files of other tools may have neither)."""
    stated = [(f"attribute {key!r}", key, float(handle.attrs[key])) for key in ("sample_rate", "t0", "duration")
              if key in handle.attrs]
    named = STRAIN_NAME.search(Path(path).name)
    if named:
        stated += [("file name", key, float(named[key])) for key in ("t0", "duration")]
    return stated


def _check_stated(path: PathLike, handle: h5py.File, info: BackgroundInfo) -> None:
    """Refuse a file whose attributes or name contradict its strain datasets: which of the two is right is unknown."""
    half_sample = 0.5 / info.sample_rate
    measured = {"sample_rate": (info.sample_rate, 1e-9 * info.sample_rate, f"1/dx = {info.sample_rate!r} Hz"),
                "t0": (info.t0, half_sample, f"x0 = {info.t0!r}"),
                "duration": (info.duration, half_sample, f"{info.num_samples} samples = {info.duration!r} s")}
    for where, key, value in _stated(path, handle):
        actual, tolerance, described = measured[key]
        if abs(value - actual) > tolerance:
            raise InputError(path, where, f"{key} {value!r} contradicts the strain datasets' {described}")


def background_info(path: PathLike, ifos: Sequence[str] | None = None) -> BackgroundInfo:
    """The ifos, start, sample rate and length of a background file, checked, without reading its samples."""
    with open_hdf5(path) as handle:
        return _background_info(path, handle, ifos)


def simulated_psds(path: PathLike, ifos: Sequence[str]) -> dict[str, str] | None:
    """The lalsimulation PSD each of ``ifos`` was drawn from, for a simulated background file; None for any other."""
    with open_hdf5(path) as handle:
        if handle.attrs.get("source") != "simulated" or "noise_psd" not in handle.attrs:
            return None
        names = str(handle.attrs["noise_psd"]).split(",")
        written = [str(ifo) for ifo in handle.attrs.get("ifos", [])]
    if len(names) != len(written) or not set(ifos) <= set(written):
        raise InputError(path, "noise_psd", f"names {len(names)} PSDs for the ifos {', '.join(written)}")
    return {ifo: name for ifo, name in zip(written, names, strict=True) if ifo in ifos}


def read_background(
    path: PathLike,
    ifos: Sequence[str] | None = None,
    start: float | None = None,
    stop: float | None = None,
    *,
    sample_rate: float | None = None,
    psd_length: float | None = None,
) -> tuple[dict[str, np.ndarray], float, float]:
    """Read strain as float64 from a background file: ``({ifo: array}, t0, sample_rate)`` of ``[start, stop)``.

    ``ifos`` defaults to every strain dataset in the file; ``start``/``stop`` are GPS seconds (default: the whole
    file), rounded to the nearest sample, and must lie within the file; only that span is read. ``sample_rate``, if
    given, is what the caller expects: another rate is an ``InputError``. Reads float32 (ours) and float64 (aframe's).
    Strain holding a NaN or an infinity, or (given the caller's ``psd_length``, seconds) zero over a whole PSD
    window, is an ``InputError`` naming the file, ifo and GPS time where it starts.
    """
    with open_hdf5(path) as handle:
        info = _background_info(path, handle, ifos)
        if sample_rate is not None and not math.isclose(info.sample_rate, sample_rate, rel_tol=1e-9):
            raise InputError(path, info.ifos[0], f"sample rate is {info.sample_rate:g} Hz, expected {sample_rate:g}")
        first = 0 if start is None else round((start - info.t0) * info.sample_rate)
        last = info.num_samples if stop is None else round((stop - info.t0) * info.sample_rate)
        if not 0 <= first <= last <= info.num_samples:
            raise InputError(path, info.ifos[0], f"[{start}, {stop}) is not within the file's span "
                                                 f"[{info.t0}, {info.t0 + info.duration})")
        strain = {}
        for ifo in info.ifos:
            samples = hdf5.read(path, handle[ifo], slice(first, last))
            _check_strain(path, handle[ifo], samples, first, psd_length)
            strain[ifo] = samples.astype(np.float64, copy=False)
    return strain, info.t0 + first / info.sample_rate, info.sample_rate


def _check_strain(path: PathLike, dataset: h5py.Dataset, samples: np.ndarray, first: int,
                  psd_length: float | None) -> None:
    """Refuse strain a PSD or a search cannot use: NaN or infinite samples, or zeros across a whole PSD window."""
    bad = hdf5.first_nonfinite(samples)
    if bad is not None:
        raise InputError(path, dataset.name.lstrip("/"),
                         f"strain is NaN or infinite at {hdf5.position(dataset, first + bad)}")
    if psd_length:
        window = round(psd_length / float(dataset.attrs["dx"]))
        zero = hdf5.first_zero_run(samples, window)
        if zero is not None:
            raise InputError(path, dataset.name.lstrip("/"),
                             f"strain is zero for a whole PSD window ({psd_length:g} s) from "
                             f"{hdf5.position(dataset, first + zero)}: its PSD would be zero")


class BackgroundWriter:
    """Writes the samples of an open background file; made by ``background_writer``."""

    def __init__(self, handle: h5py.File, num_samples: int) -> None:
        self.handle = handle
        self.num_samples = num_samples
        self.written = {ifo: 0 for ifo in handle}

    def write(self, ifo: str, offset: int, samples: np.ndarray) -> None:
        """Store ``samples`` (any float dtype; stored as float32) of ``ifo`` from sample ``offset`` on."""
        samples = np.asarray(samples)
        if ifo not in self.written:
            raise KeyError(f"{ifo!r} is not one of this file's ifos {sorted(self.written)}")
        if samples.ndim != 1 or offset < 0 or offset + samples.shape[0] > self.num_samples:
            raise ValueError(f"{ifo}: samples [{offset}, {offset + samples.shape[0]}) do not fit in "
                             f"{self.num_samples}")
        self.handle[ifo][offset: offset + samples.shape[0]] = samples.astype(np.float32, copy=False)
        self.written[ifo] = max(self.written[ifo], offset + samples.shape[0])


@contextmanager
def background_writer(path: PathLike, ifos: Sequence[str], t0: float, sample_rate: float, num_samples: int,
                      attrs: Mapping[str, Any] | None = None) -> Iterator[BackgroundWriter]:
    """Write a background file block by block (bounded memory); it appears under ``path`` only when complete.

    ::

        with background_writer(path, ["H1", "L1"], t0, sample_rate, num_samples) as writer:
            writer.write("H1", 0, block)

    Each ifo is a float32 dataset chunked by ``BACKGROUND_CHUNK`` samples with gwpy's ``x0``, ``dx``, ``xunit``,
    ``name`` and ``unit`` attributes; the root records ``ifos``, ``t0``, ``sample_rate``, ``duration`` and ``attrs``.
    Leaving the block with samples still unwritten is an error and leaves no file.
    """
    if not sample_rate > 0 or num_samples < 0 or not ifos:
        raise ValueError(f"bad background: ifos {list(ifos)}, sample_rate {sample_rate}, num_samples {num_samples}")
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        for ifo in ifos:
            dataset = create_dataset(handle, ifo, shape=(num_samples,), dtype=np.float32,
                                     chunks=(max(1, min(BACKGROUND_CHUNK, num_samples)),))
            dataset.attrs["x0"] = float(t0)
            dataset.attrs["dx"] = 1.0 / sample_rate
            dataset.attrs["xunit"] = "s"
            dataset.attrs["name"] = ifo
            dataset.attrs["unit"] = "strain"
        handle.attrs["ifos"] = list(ifos)
        handle.attrs["t0"] = float(t0)
        handle.attrs["sample_rate"] = float(sample_rate)
        handle.attrs["duration"] = num_samples / sample_rate
        for name, value in (attrs or {}).items():
            handle.attrs[name] = value
        writer = BackgroundWriter(handle, num_samples)
        yield writer
        short = {ifo: n for ifo, n in writer.written.items() if n < num_samples}
        if short:
            raise RuntimeError(f"{path}: background incomplete; samples written per ifo {short} of {num_samples}")


def write_background(path: PathLike, strain: Mapping[str, np.ndarray], t0: float, sample_rate: float,
                     attrs: Mapping[str, Any] | None = None) -> Path:
    """Write whole arrays of strain (one per ifo, same length) as a background file, atomically; return the path."""
    sizes = {ifo: np.asarray(samples).shape for ifo, samples in strain.items()}
    if len({shape for shape in sizes.values()}) != 1 or any(len(shape) != 1 for shape in sizes.values()):
        raise ValueError(f"strain must be 1-D arrays of one length per ifo, got shapes {sizes}")
    num_samples = next(iter(sizes.values()))[0] if sizes else 0
    with background_writer(path, list(strain), t0, sample_rate, num_samples, attrs) as writer:
        for ifo, samples in strain.items():
            writer.write(ifo, 0, samples)
    return Path(path)
