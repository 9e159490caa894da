"""The numeric core of a branch, torch and numpy only: whitened windows on the data's device, and the boxcar and
clustering of the network's outputs. ``benchmarks/gpu_check.py`` runs the same functions on a GPU machine that
has nothing but torch, numpy and ml4gw."""

from __future__ import annotations

import numpy as np
import torch


def whitened_windows(spectral_density: torch.nn.Module, whiten: torch.nn.Module, background: torch.Tensor,
                     data: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """``data`` (ifos, samples) whitened by the PSD of ``background`` (ifos, samples), cut into float32 windows
    (windows, ifos, ``kernel``) every ``stride`` samples, on the data's device (PSD and whitening in float64)."""
    with torch.no_grad():
        psd = spectral_density(background[None].double())
        whitened = whiten(data[None].double(), psd)
        return whitened[0].unfold(-1, kernel, stride).transpose(0, 1).float()


def integrate(raw: np.ndarray, n: int) -> np.ndarray:
    """Boxcar means of ``n`` consecutive raw outputs (float64; NaN wherever one of them is missing)."""
    return np.convolve(raw.astype(np.float64), np.full(n, 1.0 / n), mode="valid")


def cluster(values: np.ndarray, half: int) -> np.ndarray:
    """Indices of the events: repeatedly the loudest output left, whose ``half`` neighbours each side are dropped
    (ties go to the earliest); returned in time order."""
    order = np.lexsort((np.arange(len(values)), -values))
    blocked = np.zeros(len(values), dtype=bool)
    keep = []
    for index in order:
        if not blocked[index]:
            keep.append(index)
            blocked[max(0, index - half): index + half + 1] = True
    return np.sort(np.asarray(keep, dtype=np.int64))
