"""Training data for ``aframe-train``: background in memory, CPU-side random draws, on-device injection.

Every random draw of a training batch comes from a generator seeded by ``(seed, epoch, batch index)``, so a batch is
a pure function of its position: a run resumed from ``last.ckpt`` sees exactly the batches an uninterrupted run sees.
The CPU side (``BatchStream``) only slices background windows (each ifo its own random window: a random timeslide)
and the polarizations to inject; the device side (``Injector``, called in ``on_after_batch_transfer``) estimates the
PSD from the leading ``psd_length`` seconds of the *background*, projects and rescales the waveforms to their SNR
against that PSD, augments, injects and whitens.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import executables.common.torchcompat  # noqa: F401  (before ml4gw)

# isort: split
from ml4gw.gw import compute_observed_strain, get_ifo_geometry, reweight_snrs

from executables.common.errors import InputError
from executables.common.seeding import node_seed
from executables.formats.sets import ResponseSet, WaveformSet
from executables.formats.strain import background_info, read_background
from executables.preprocessing import whitening
from executables.train.config import Shared

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Geometry:
    """Sample lengths in samples: a training sample is ``psd`` + ``window`` (= kernel + fduration)."""

    sample_rate: float
    psd_size: int
    window_size: int
    kernel_size: int

    @property
    def sample_size(self) -> int:
        return self.psd_size + self.window_size

    @classmethod
    def of(cls, shared: Shared, psd_length: float) -> Geometry:
        fs = shared.sample_rate
        return cls(fs, round(psd_length * fs), round((shared.kernel_length + shared.fduration) * fs),
                   shared.kernel_size)


def generator(seed: int, *key: int | str) -> torch.Generator:
    return torch.Generator().manual_seed(node_seed(seed, *key) % (2**63))


# -- reading and checking the inputs ---------------------------------------------------------------------------------


def load_background(paths: Sequence[Path], shared: Shared, fraction: float,
                    geometry: Geometry) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each file's leading ``1 - fraction`` for training and the rest for validation, as float32 (ifos, samples)."""
    if not paths:
        raise InputError("--background", None, "no background files given")
    train, valid = [], []
    sample_size = geometry.sample_size
    for path in paths:
        info = background_info(path, shared.ifos)
        if not math.isclose(info.sample_rate, shared.sample_rate, rel_tol=1e-9):
            raise InputError(path, shared.ifos[0], f"sample rate is {info.sample_rate:g} Hz but --sample-rate is "
                                                   f"{shared.sample_rate:g}")
        if info.num_samples < 2 * sample_size:
            raise InputError(path, shared.ifos[0], f"{info.duration:g} s is too short: training and validation "
                                                   f"each need a sample of {sample_size / shared.sample_rate:g} s "
                                                   "(psd_length + kernel_length + fduration)")
        strain, _, _ = read_background(path, shared.ifos, sample_rate=shared.sample_rate,
                                       psd_length=geometry.psd_size / shared.sample_rate)
        array = np.stack([strain[ifo] for ifo in shared.ifos]).astype(np.float32)
        split = round(info.num_samples * (1 - fraction))
        for part, into in ((array[:, :split], train), (array[:, split:], valid)):
            if part.shape[1] >= sample_size:
                into.append(np.ascontiguousarray(part))
    if not train or not valid:
        raise InputError(paths[0], "validation.fraction", "no file leaves a training and a validation part as "
                                                          "long as one sample")
    return train, valid


def check_waveforms(path: Path, shared: Shared) -> tuple[int, WaveformSet]:
    """The number of training waveforms and the file's set without rows (its shape and metadata); the file must be a
    training WaveformSet (ours or aframe's ``WaveformPolarizationSet``) at the run's sample rate."""
    layout = WaveformSet.read(path, slice(0, 0))  # checks the layout and metadata without reading a waveform
    if not math.isclose(layout.sample_rate, shared.sample_rate, rel_tol=1e-9):
        raise InputError(path, "sample_rate", f"is {layout.sample_rate:g} Hz but --sample-rate is "
                                              f"{shared.sample_rate:g}")
    count = WaveformSet.length(path)
    if count == 0:
        raise InputError(path, "waveforms/plus", "holds no waveforms")
    return count, layout


class WaveformBank:
    """The training polarizations, in memory when they fit under ``memory_gb``, otherwise read per batch."""

    def __init__(self, path: Path, shared: Shared, memory_gb: float) -> None:
        self.path = Path(path)
        self.count, layout = check_waveforms(self.path, shared)
        self.size = int(layout.plus.shape[1])
        self.coalescence = self.size - round(layout.right_pad * shared.sample_rate)
        self.in_memory: np.ndarray | None = None
        if 2 * 4 * self.count * self.size <= memory_gb * 2**30:
            wave = WaveformSet.read(self.path)
            self.in_memory = np.stack([wave.plus, wave.cross], axis=1).astype(np.float32)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 2, size) plus and cross of ``rows`` (any order, repeats allowed)."""
        if self.in_memory is not None:
            return self.in_memory[rows]
        unique, inverse = np.unique(rows, return_inverse=True)
        wave = WaveformSet.read(self.path, unique)
        return np.stack([wave.plus, wave.cross], axis=1).astype(np.float32)[inverse]


def read_responses(path: Path, shared: Shared) -> tuple[np.ndarray, int]:
    """Validation responses (ours or aframe's validation waveforms) as float32 (rows, ifos, samples) in
    ``shared.ifos`` order, and the coalescence index."""
    responses = ResponseSet.read(path)
    if not math.isclose(responses.sample_rate, shared.sample_rate, rel_tol=1e-9):
        raise InputError(path, "sample_rate", f"is {responses.sample_rate:g} Hz but --sample-rate is "
                                              f"{shared.sample_rate:g}")
    missing = [ifo for ifo in shared.ifos if ifo.lower() not in responses.waveforms]
    if missing or len(responses) == 0:
        raise InputError(path, "waveforms",
                         f"needs a response for each of {', '.join(shared.ifos)} and at least one row")
    array = np.stack([responses.waveforms[ifo.lower()] for ifo in shared.ifos], axis=1).astype(np.float32)
    pad = responses.right_pad if responses.right_pad is not None else 0.0
    return array, array.shape[-1] - round(pad * shared.sample_rate)


# -- CPU side: one batch's draws -------------------------------------------------------------------------------------


def _window_starts(lengths: np.ndarray, size: int, count: int, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``count`` (segment, start) pairs, segments weighted by how many windows they hold."""
    room = lengths - size + 1
    weights = torch.as_tensor(room / room.sum(), dtype=torch.float64)
    segments = torch.multinomial(weights, count, replacement=True, generator=gen).numpy()
    starts = (torch.rand(count, generator=gen, dtype=torch.float64).numpy() * room[segments]).astype(np.int64)
    return segments, starts


def slice_waveforms(waves: np.ndarray, coalescence: int, positions: np.ndarray, size: int) -> np.ndarray:
    """Windows of ``size`` samples with each waveform's coalescence at ``positions`` (zero where none)."""
    offsets = coalescence - positions[:, None] + np.arange(size)[None, :]
    valid = (offsets >= 0) & (offsets < waves.shape[-1])
    taken = np.take_along_axis(waves, np.clip(offsets, 0, waves.shape[-1] - 1)[:, None, :].repeat(waves.shape[1], 1),
                               axis=-1)
    return taken * valid[:, None, :]


class BatchStream:
    """An iterable of CPU batches for one epoch; batch ``i`` of epoch ``e`` depends only on ``(seed, e, i)``.

    ``position`` returns ``(epoch, first batch index)`` when iteration starts (the Lightning trainer's progress, so a
    resumed run skips the batches it already trained on). Under DDP, rank ``r`` of ``world`` draws the batches keyed
    ``index * world + r``, so ranks never train on the same batch (one process: the key is the index).
    """

    def __init__(self, background: list[np.ndarray], bank: WaveformBank, config: dict[str, Any],
                 geometry: Geometry, seed: int, position: Callable[[], tuple[int, int]], rank: int = 0,
                 world: int = 1) -> None:
        self.background = background
        self.lengths = np.array([segment.shape[1] for segment in background])
        self.bank = bank
        self.data = config
        self.geometry = geometry
        self.seed = seed
        self.position = position
        self.batches = int(config["batches_per_epoch"])
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        epoch, first = self.position()
        for index in range(first, self.batches):
            yield self.batch(epoch, index * self.world + self.rank)

    def batch(self, epoch: int, index: int) -> dict[str, torch.Tensor]:
        gen = generator(self.seed, "train-batch", epoch, index)
        size, channels = int(self.data["batch_size"]), len(self.background[0])
        geo = self.geometry
        background = np.empty((size, channels, geo.sample_size), dtype=np.float32)
        for channel in range(channels):  # each ifo its own window: non-coincident background
            segments, starts = _window_starts(self.lengths, geo.sample_size, size, gen)
            for row, (segment, start) in enumerate(zip(segments, starts, strict=True)):
                background[row, channel] = self.background[segment][channel, start: start + geo.sample_size]
        invert = torch.rand(size, channels, generator=gen) < float(self.data["invert_prob"])
        reverse = torch.rand(size, channels, generator=gen) < float(self.data["reverse_prob"])
        inject = torch.rand(size, generator=gen) < float(self.data["waveform_prob"])
        count = int(inject.sum())
        rows = torch.randint(self.bank.count, (count,), generator=gen).numpy()
        pad = (geo.window_size - geo.kernel_size) // 2
        positions = (pad + torch.rand(count, generator=gen, dtype=torch.float64).numpy()
                     * geo.kernel_size).astype(np.int64)
        polarizations = slice_waveforms(self.bank.rows(rows), self.bank.coalescence, positions, geo.window_size)
        snr = self.data["snr"]
        low = snr_floor(snr, epoch * self.batches + index // self.world)
        high, alpha = float(snr["maximum"]), float(snr["index"]) + 1
        u = torch.rand(count, generator=gen, dtype=torch.float64)
        if abs(alpha) < 1e-12:  # power law icdf (ml4gw.distributions.PowerLaw's distribution)
            target = low * (high / low) ** u
        else:
            target = (low**alpha + u * (high**alpha - low**alpha)) ** (1 / alpha)
        return {
            "background": torch.from_numpy(background),
            "invert": invert,
            "reverse": reverse,
            "inject": inject,
            "polarizations": torch.from_numpy(np.ascontiguousarray(polarizations, dtype=np.float32)),
            "dec": torch.asin(2 * torch.rand(count, generator=gen, dtype=torch.float64) - 1).float(),
            "psi": (math.pi * torch.rand(count, generator=gen, dtype=torch.float64)).float(),
            "phi": (2 * math.pi * torch.rand(count, generator=gen, dtype=torch.float64) - math.pi).float(),
            "snr": target,
            "swap": torch.rand(count, generator=gen) < float(self.data["swap_prob"]),
            "mute": torch.rand(count, generator=gen) < float(self.data["mute_prob"]),
            "channel": torch.randint(channels, (count,), generator=gen),
        }


def snr_floor(snr: dict[str, Any], step: int) -> float:
    """The training SNRs' lower bound at training step ``step`` (0 first): ``initial_minimum`` falling linearly to
    ``minimum`` over ``decay_steps`` steps, so that the network learns loud signals before faint ones."""
    start, end = snr["initial_minimum"], snr["minimum"]
    if start is None:
        return float(end)
    return float(start - min(step / snr["decay_steps"], 1.0) * (start - end))


# -- device side: PSD, injection, augmentation, whitening ------------------------------------------------------------


class Injector(torch.nn.Module):
    """Turns a ``BatchStream`` batch (on any device) into whitened ``X`` (batch, ifos, kernel) and labels ``y``."""

    def __init__(self, shared: Shared, psd_length: float, fftlength: float | None) -> None:
        super().__init__()
        self.shared = shared
        self.geometry = Geometry.of(shared, psd_length)
        fftlength = fftlength or shared.kernel_length + shared.fduration
        self.spectral_density = whitening.spectral_density(shared, fftlength)
        self.whiten = whitening.whitener(shared)
        tensors, vertices = get_ifo_geometry(*shared.ifos)
        self.register_buffer("tensors", tensors, persistent=False)
        self.register_buffer("vertices", vertices, persistent=False)

    def psd(self, background: torch.Tensor) -> torch.Tensor:
        """PSD (batch, ifos, window // 2 + 1), float64, from the leading ``psd_size`` samples."""
        psd = self.spectral_density(background[..., : self.geometry.psd_size].double())
        return torch.nn.functional.interpolate(psd, size=(self.geometry.window_size // 2 + 1,), mode="linear")

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        background = batch["background"].double()
        background = torch.where(batch["invert"][..., None], -background, background)
        background = torch.where(batch["reverse"][..., None], background.flip(-1), background)
        psd = self.psd(background)
        window = background[..., self.geometry.psd_size:]
        inject = batch["inject"]
        y = torch.zeros(window.shape[0], 1, device=window.device)
        if inject.any():
            responses = self.project(batch)
            responses = reweight_snrs(responses, batch["snr"], psd[inject], self.shared.sample_rate,
                                      self.shared.highpass, self.shared.lowpass)
            labels = torch.ones(responses.shape[0], device=window.device)
            responses, labels = swap_and_mute(responses, labels, batch["swap"], batch["mute"], batch["channel"])
            window = window.clone()
            window[inject] = window[inject] + responses.to(window.dtype)
            y[inject, 0] = labels
        X = self.whiten(window, psd)
        return X.float(), y

    def project(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        polarizations = batch["polarizations"]
        return compute_observed_strain(batch["dec"], batch["psi"], batch["phi"], self.tensors, self.vertices,
                                       self.shared.sample_rate, plus=polarizations[:, 0],
                                       cross=polarizations[:, 1]).double()


def swap_and_mute(responses: torch.Tensor, labels: torch.Tensor, swap: torch.Tensor, mute: torch.Tensor,
                  channel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Swap one channel with the next injected waveform's, or zero it; either way the sample is labelled noise."""
    rows = torch.arange(responses.shape[0], device=responses.device)
    responses = responses.clone()
    swapped = rows[swap]
    if len(swapped):
        donors = (swapped + 1) % responses.shape[0]
        responses[swapped, channel[swap]] = responses[donors, channel[swap]]
    muted = rows[mute]
    responses[muted, channel[mute]] = 0
    labels = torch.where(swap | mute, torch.zeros_like(labels), labels)
    return responses, labels


# -- validation: fixed timeslid background and injected responses, whitened once -------------------------------------


@dataclass
class ValidationSet:
    """Whitened validation inputs: ``background`` (windows, ifos, kernel) grouped by shift, then ``signals``
    (responses x views, ifos, kernel), with what pooling needs."""

    background: torch.Tensor
    shift_sizes: list[int]
    signals: torch.Tensor
    num_views: int
    pool_size: int

    @property
    def inputs(self) -> torch.Tensor:
        return torch.cat([self.background, self.signals])


def _whiten_chunks(injector: Injector, samples: Iterator[np.ndarray], responses: Iterator[np.ndarray | None],
                   chunk: int) -> torch.Tensor:
    out, batch, adds = [], [], []

    def flush() -> None:
        background = torch.from_numpy(np.stack(batch)).double()
        psd = injector.psd(background)
        window = background[..., injector.geometry.psd_size:]
        for row, add in enumerate(adds):
            if add is not None:
                window[row] += torch.from_numpy(add).double()
        out.append(injector.whiten(window, psd).float())
        batch.clear()
        adds.clear()

    for sample, add in zip(samples, responses, strict=True):
        batch.append(sample)
        adds.append(add)
        if len(batch) == chunk:
            flush()
    if batch:
        flush()
    return torch.cat(out) if out else torch.empty(0)


def build_validation(segments: list[np.ndarray], responses: np.ndarray, coalescence: int, injector: Injector,
                     config: dict[str, Any], seed: int) -> ValidationSet:
    """Timeslid background windows (stride ``stride`` until ``livetime``) and each response at ``num_views``
    positions in the kernel, each on its own background window; whitened with the PSD of its leading part."""
    geo = injector.geometry
    fs = geo.sample_rate
    stride = max(1, round(float(config["stride"]) * fs))
    shift_step = geo.window_size  # shifts by more than a window: independent noise in each ifo
    channels = segments[0].shape[0]
    target = float(config["livetime"]) * fs
    starts: list[tuple[int, int, int]] = []  # (segment, start, shift)
    shift_sizes: list[int] = []
    shift, covered = 1, 0.0
    while covered < target:
        before = len(starts)
        for index, segment in enumerate(segments):
            room = segment.shape[1] - geo.sample_size - (channels - 1) * shift * shift_step
            starts.extend((index, start, shift) for start in range(0, max(room + 1, 0), stride))
        needed = before + math.ceil((target - covered) / stride)
        del starts[needed:]  # stop at the livetime asked for
        added = len(starts) - before
        if added == 0:
            break
        shift_sizes.append(added)
        covered += added * stride
        shift += 1
    if not starts:
        raise InputError("--background", "validation.fraction", "the validation background is too short for one "
                                                                "timeslid window")

    def background_samples() -> Iterator[np.ndarray]:
        for index, start, shift in starts:
            segment = segments[index]
            yield np.stack([segment[c, start + c * shift * shift_step: start + c * shift * shift_step
                                    + geo.sample_size] for c in range(channels)])

    chunk = int(config.get("batch_size", 256))
    background = _whiten_chunks(injector, background_samples(), iter([None] * len(starts)), chunk)

    views = int(config["num_views"])
    gen = generator(seed, "validation")
    lengths = np.array([segment.shape[1] for segment in segments])
    count = len(responses) * views
    picks = [_window_starts(lengths, geo.sample_size, count, gen) for _ in range(channels)]
    pad = (geo.window_size - geo.kernel_size) // 2
    positions = pad + ((np.arange(views) + 0.5) / views * geo.kernel_size).astype(np.int64)

    def signal_samples() -> Iterator[np.ndarray]:
        for k in range(count):
            yield np.stack([segments[picks[c][0][k]][c, picks[c][1][k]: picks[c][1][k] + geo.sample_size]
                            for c in range(channels)])

    def signal_adds() -> Iterator[np.ndarray]:
        for k in range(count):
            row, view = divmod(k, views)
            yield slice_waveforms(responses[row: row + 1], coalescence, positions[view: view + 1],
                                  geo.window_size)[0]

    signals = _whiten_chunks(injector, signal_samples(), signal_adds(), chunk)
    pool = max(1, round(float(config["pool_length"]) / float(config["stride"])))
    return ValidationSet(background, shift_sizes, signals, views, pool)


def pool_background(scores: torch.Tensor, shift_sizes: Sequence[int], pool: int) -> torch.Tensor:
    """Max over non-overlapping runs of ``pool`` consecutive windows within each shift (aframe's 8 s pooling)."""
    pooled = []
    for part in torch.split(scores, list(shift_sizes)):
        pieces = torch.split(part, pool)
        pooled.append(torch.stack([piece.max() for piece in pieces]))
    return torch.cat(pooled)


def partial_auroc(background: torch.Tensor, signal: torch.Tensor, max_fpr: float) -> float:
    """Area under the ROC up to ``max_fpr``, McClish-standardised (0.5 = chance, 1 = perfect), as sklearn does."""
    scores = torch.cat([signal, background]).double()
    labels = torch.cat([torch.ones_like(signal), torch.zeros_like(background)]).double()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, labels = scores[order], labels[order]
    distinct = torch.nonzero(scores[1:] != scores[:-1]).flatten()
    last = torch.cat([distinct, torch.tensor([len(scores) - 1])])
    tps = torch.cumsum(labels, 0)[last]
    fps = (last + 1).double() - tps
    tpr = torch.cat([torch.zeros(1), tps / max(float(labels.sum()), 1.0)]).double()
    fpr = torch.cat([torch.zeros(1), fps / max(float((1 - labels).sum()), 1.0)]).double()
    if max_fpr >= 1:
        return float(torch.trapezoid(tpr, fpr))
    stop = int(torch.searchsorted(fpr, torch.tensor(max_fpr, dtype=torch.float64), right=True))
    x0, x1 = fpr[stop - 1], fpr[min(stop, len(fpr) - 1)]
    y0, y1 = tpr[stop - 1], tpr[min(stop, len(tpr) - 1)]
    y = y0 if x1 == x0 else y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
    x = torch.cat([fpr[:stop], torch.tensor([max_fpr], dtype=torch.float64)])
    t = torch.cat([tpr[:stop], torch.tensor([float(y)], dtype=torch.float64)])
    area = float(torch.trapezoid(t, x))
    low, high = max_fpr**2 / 2, max_fpr
    return 0.5 * (1 + (area - low) / (high - low))
