"""One branch of ``aframe-infer`` as a stream: timeslid reads, whitening, windows, and the output grid.

A branch is a background file read with shift index ``i``: ifo ``k`` is read ``i * shifts[k]`` seconds later than
the *analysis clock* (the file's own clock for an ifo with shift step 0, the first ifo by convention), by offsetting
the read index. It analyses ``[t0 + psd_length, t0 + duration - max offset)`` (``aframe_dag.timeslides``): that
span, in steps of ``1 / inference_sampling_rate``, holds its ``N`` outputs.

Sample geometry (``Geometry``; ``S`` the stride, ``K`` the kernel, ``P = fduration / 2`` the whitening pad, ``n`` the
outputs one integration averages): raw output ``g`` (``0 <= g < N + n - 1``; the first ``n - 1`` only warm the
integration up) is the network's logit on the whitened kernel that ends at sample
``e(g) = start - P + (g - n + 2) * S``, whose whitening reads ``[e - K - P, e + P)``. Integrated output
``k = g - n + 1`` is the mean of raw outputs ``k .. k + n - 1``; its time is the mean centre of those kernels,
``e(g) - K / 2 - (n - 1) * S / 2``: a signal anywhere in a kernel (training places coalescences uniformly in it)
peaks the integrated output about there.

Whitening is training's (``executables.preprocessing.whitening``: ml4gw's ``SpectralDensity`` with mean averaging
and ``Whiten`` with the run's fduration / highpass / lowpass). Outputs are computed in blocks of
``M`` raw outputs (whole batches, about ``psd_length`` s); block ``b`` is whitened by the PSD of the background
stream's ``psd_length`` s before ``start + b * M * S`` (or before the end of the data the block whitens, if that
comes first) -- for the first block exactly the dead time the plan set
aside, the span the injections' SNRs were computed on. The PSD always comes from the background stream, never
from injected data; the foreground stream is the same data with the branch's injections added.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue

import numpy as np
import torch

from aframe_dag import timeslides
from executables.common.branches import BranchNaming
from executables.common.errors import InputError
from executables.common.shared import DataParameters
from executables.formats.placement import Injections
from executables.formats.strain import background_info, read_background
from executables.infer.outputs import whitened_windows
from executables.preprocessing import whitening


@dataclass(frozen=True)
class Settings(DataParameters):
    """The data parameters of one infer node and its own: timeslides, batching, PSD and post-processing (s and Hz)."""

    shifts: tuple[float, ...]
    batch_size: int
    psd_length: float
    fftlength: float
    integration_length: float
    cluster_length: float


def _samples(seconds: float, rate: float, what: str) -> int:
    value = seconds * rate
    if abs(value - round(value)) > 1e-6:
        raise ValueError(f"{what} ({seconds:g} s at {rate:g} Hz) is not a whole number of samples")
    return round(value)


@dataclass(frozen=True)
class Geometry:
    """The stream's sizes in samples (``kernel``, ``pad``, ``stride``, ``psd``) and outputs (the rest)."""

    sample_rate: float
    kernel: int
    pad: int
    stride: int
    psd: int
    integration: int
    block: int
    cluster_half: int

    @classmethod
    def of(cls, settings: Settings) -> Geometry:
        """Sizes of ``settings``; a length that is no whole number of samples is a ``ValueError`` naming it."""
        fs, rate = settings.sample_rate, settings.inference_sampling_rate
        stride = _samples(1 / rate, fs, "1 / inference_sampling_rate")
        integration = max(1, round(settings.integration_length * rate))
        block = settings.batch_size * max(1, round(settings.psd_length * rate / settings.batch_size))
        return cls(fs, _samples(settings.kernel_length, fs, "kernel_length"),
                   _samples(settings.fduration / 2, fs, "fduration / 2"), stride,
                   _samples(settings.psd_length, fs, "psd_length"), integration, block,
                   round(settings.cluster_length * rate / 2))

    @property
    def warmup(self) -> int:
        """Samples before the analysed span that the first outputs read (whitening pad, kernel, integration)."""
        return 2 * self.pad + self.kernel + (self.integration - 2) * self.stride


@dataclass(frozen=True)
class Branch(BranchNaming):
    """One (file, shift index) pair: its clock, per-ifo read offsets and output grid."""

    path: Path
    index: int
    t0: float
    duration: float
    offsets: tuple[float, ...]
    sample_offsets: tuple[int, ...]
    start: int
    stop: int
    livetime: float
    outputs: int


def open_branch(path: Path, index: int, settings: Settings, geometry: Geometry) -> Branch:
    """Check one background file against the plan and the run's settings; ``InputError`` names what is wrong."""
    info = background_info(path, settings.ifos)
    if not math.isclose(info.sample_rate, settings.sample_rate, rel_tol=1e-9):
        raise InputError(path, settings.ifos[0], f"sample rate is {info.sample_rate:g} Hz, this run uses "
                                                 f"{settings.sample_rate:g} Hz")
    offsets = timeslides.offsets(settings.shifts, index)
    sample_offsets = tuple(_samples(offset, settings.sample_rate, f"shift {index} of {ifo}")
                           for offset, ifo in zip(offsets, settings.ifos, strict=True))
    livetime = timeslides.livetime(info.duration, settings.shifts, index, settings.psd_length)
    start, stop = geometry.psd, info.num_samples - max(sample_offsets)
    outputs = (stop - start) // geometry.stride
    if outputs < 1:
        raise InputError(path, settings.ifos[0], f"holds {info.duration:g} s: too short for the PSD "
                                                 f"({settings.psd_length:g} s) and one window at shift {index}")
    return Branch(Path(path), index, info.t0, info.duration, offsets, sample_offsets, start, stop, livetime, outputs)


class Preprocessor:
    """Whitened windows of a branch, block by block, on ``device`` (training's PSD and whitening modules): numpy
    on the host, or (``on_device``) float32 tensors left on the device for a backend that runs there. Strain goes to
    a CUDA device from pinned memory, without waiting for the copy."""

    def __init__(self, settings: Settings, geometry: Geometry, device: str, on_device: bool = False) -> None:
        self.spectral_density = whitening.spectral_density(settings, settings.fftlength).to(device)
        self.whiten = whitening.whitener(settings).to(device)
        self.settings, self.geometry, self.device = settings, geometry, torch.device(device)
        self.on_device = on_device

    def _to_device(self, strain: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(strain)
        if self.device.type != "cuda":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def end(self, branch: Branch, g: int) -> int:
        """Analysis-clock sample where raw output ``g``'s kernel ends."""
        geo = self.geometry
        return branch.start - geo.pad + (g - geo.integration + 2) * geo.stride

    def times(self, branch: Branch) -> np.ndarray:
        """GPS time of each of the branch's ``N`` integrated outputs (see the module doc)."""
        geo = self.geometry
        ends = branch.start - geo.pad + (np.arange(branch.outputs) + 1) * geo.stride
        centres = ends - geo.kernel / 2 - (geo.integration - 1) * geo.stride / 2
        return branch.t0 + centres / geo.sample_rate

    def _read(self, branch: Branch, lo: int, hi: int) -> np.ndarray:
        """Analysis-clock samples ``[lo, hi)`` of every ifo, each read at its own offset: (ifos, hi - lo)."""
        fs = self.geometry.sample_rate
        rows = []
        for ifo, offset in zip(self.settings.ifos, branch.sample_offsets, strict=True):
            strain, _, _ = read_background(branch.path, [ifo], branch.t0 + (lo + offset) / fs,
                                           branch.t0 + (hi + offset) / fs, sample_rate=fs,
                                           psd_length=self.settings.psd_length)
            rows.append(strain[ifo])
        return np.stack(rows)

    def batches(self, branch: Branch, needed: np.ndarray | None = None,
                injections: Injections | None = None) -> Iterator[np.ndarray | torch.Tensor]:
        """Whitened float32 windows ``(<= batch_size, ifos, kernel)`` of the raw outputs ``needed`` (all when None)
        in order, from the background stream or, with ``injections``, the foreground stream."""
        geo, size = self.geometry, self.settings.batch_size
        total = branch.outputs + geo.integration - 1
        join = torch.cat if self.on_device else np.concatenate
        pending: list = []
        held = 0
        for first in range(0, total, geo.block):
            last = min(first + geo.block, total)
            wanted = np.arange(first, last) if needed is None else needed[(needed >= first) & (needed < last)]
            if not len(wanted):
                continue
            windows = self._block(branch, first, last, injections)[wanted - first]
            while len(windows):
                take = windows[: size - held]
                pending.append(take)
                held += len(take)
                windows = windows[len(take):]
                if held == size:
                    yield join(pending) if len(pending) > 1 else pending[0]
                    pending, held = [], 0
        if pending:
            yield join(pending)

    def _block(self, branch: Branch, first: int, last: int,
               injections: Injections | None) -> np.ndarray | torch.Tensor:
        """Whitened windows of raw outputs ``[first, last)``: (last - first, ifos, kernel) float32."""
        geo = self.geometry
        data_lo = self.end(branch, first) - geo.kernel - geo.pad
        data_hi = self.end(branch, last - 1) + geo.pad
        # a last block that holds only integration warm-up outputs would start past the data: its PSD ends there
        psd_hi = min(branch.start + (first // geo.block) * geo.block * geo.stride, data_hi)
        lo, hi = min(data_lo, psd_hi - geo.psd), max(data_hi, psd_hi)
        strain = self._read(branch, lo, hi)
        background = self._to_device(strain[:, psd_hi - geo.psd - lo: psd_hi - lo])
        data = strain[:, data_lo - lo: data_hi - lo]
        if injections is not None:
            data = data.copy()
            injections.add_to(data, data_lo)
        windows = whitened_windows(self.spectral_density, self.whiten, background, self._to_device(data), geo.kernel,
                                   geo.stride)
        if self.on_device:
            return windows.contiguous()
        return np.ascontiguousarray(windows.cpu().numpy())


def prefetched(items: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """``items`` in order, made by a background thread up to ``depth`` ahead, so whitening the next batches
    overlaps the model running on this one (torch and onnxruntime release the GIL)."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="infer-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def windows_near(times: np.ndarray, centres: Sequence[float], half_width: float) -> list[np.ndarray]:
    """For each centre, the indices of ``times`` (sorted) within ``half_width`` of it (inclusive)."""
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(times)))) if len(times) else 0.0
    lo = np.searchsorted(times, np.asarray(centres) - half_width - tolerance, side="left")
    hi = np.searchsorted(times, np.asarray(centres) + half_width + tolerance, side="right")
    return [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
