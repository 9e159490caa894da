"""HDF5 as every node writes and reads it: checksummed datasets out; named errors and checked values in.

Every dataset the project writes is chunked and carries HDF5's fletcher32 checksum per chunk, so a byte changed on
disk makes the library's read fail instead of returning wrong numbers; ``read`` turns that failure into an
``InputError`` naming the file, the dataset and where the bad chunk starts. Files of other tools (aframe's,
GWOSC's) carry no checksums and are read the same way. The value checks (``first_nonfinite``, ``first_zero_run``)
are what the readers of strain, waveforms and injections apply before using what they read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from executables.common.errors import InputError

PathLike = str | os.PathLike[str]

#: Target bytes of one chunk: one 8 s waveform at 2048 Hz in float32 is exactly one chunk.
CHUNK_BYTES = 64 * 1024


# -- writing ---------------------------------------------------------------------------------------------------------


def create_dataset(group: h5py.Group, name: str, *, data: Any = None, shape: tuple[int, ...] | None = None,
                   dtype: Any = None, chunks: tuple[int, ...] | None = None) -> h5py.Dataset:
    """A dataset chunked by rows (about ``CHUNK_BYTES`` each unless ``chunks`` says) with a fletcher32 checksum."""
    if data is not None:
        data = np.asarray(data)
        shape, dtype = data.shape, data.dtype if dtype is None else dtype
    if not shape:
        raise ValueError(f"{name}: a checksummed dataset needs at least one axis, got shape {shape}")
    maxshape = None
    if shape[0] == 0:  # HDF5 chunks a zero-length axis only when it may grow
        maxshape = (None, *shape[1:])
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    chunks = chunks or (max(1, min(shape[0], CHUNK_BYTES // max(1, row_bytes))), *(max(1, n) for n in shape[1:]))
    dataset = group.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, maxshape=maxshape,
                                   fletcher32=True, track_times=False)
    if data is not None and data.size:
        dataset[...] = data
    return dataset


# -- reading ---------------------------------------------------------------------------------------------------------


@contextmanager
def open_hdf5(path: PathLike) -> Iterator[h5py.File]:
    """Open an input HDF5 file read-only; a missing, foreign or truncated file is an ``InputError`` naming it."""
    if not Path(path).is_file():
        raise InputError(path, None, "no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, None, f"not a readable HDF5 file ({first_line(exc)})") from None
    try:
        yield handle
    finally:
        handle.close()


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def dataset(path: PathLike, handle: h5py.Group, name: str) -> h5py.Dataset:
    """The dataset ``name`` of an open file; a missing one (or a group in its place) names the file and dataset."""
    try:
        item = handle[name]
    except KeyError:
        raise InputError(path, name, "dataset missing") from None
    except OSError as exc:  # a damaged object header
        raise InputError(path, name, f"unreadable ({first_line(exc)})") from None
    if not isinstance(item, h5py.Dataset):
        raise InputError(path, name, "is a group, not a dataset")
    return item


def read(path: PathLike, item: h5py.Dataset, selection: Any = ()) -> np.ndarray:
    """``item[selection]``; a read that fails (a checksum mismatch, a truncated file) names the file and dataset."""
    try:
        return item[selection]
    except OSError as exc:
        name = item.name.lstrip("/")
        if item.fletcher32:
            bad = _first_bad_chunk(item)
            if bad is not None:
                raise InputError(path, name, f"fails its HDF5 checksum from {position(item, bad)} on: the file is "
                                             "corrupt on disk; remake it") from None
        raise InputError(path, name, f"cannot read data ({first_line(exc)})") from None


def _first_bad_chunk(item: h5py.Dataset) -> int | None:
    """First index (along axis 0) of the first chunk whose read fails, found by reading chunk by chunk."""
    for chunk in item.iter_chunks():
        try:
            item[chunk]
        except OSError:
            return int(chunk[0].start) if chunk else 0
    return None


def position(item: h5py.Dataset, index: int) -> str:
    """Where row ``index`` of a dataset lies, in words: its GPS time for strain (gwpy's ``x0``/``dx``), else the row."""
    if "x0" in item.attrs and "dx" in item.attrs:
        return f"GPS {float(item.attrs['x0']) + index * float(item.attrs['dx']):.6f}"
    return f"row {index}"


# -- value checks ----------------------------------------------------------------------------------------------------


def first_nonfinite(values: np.ndarray) -> int | None:
    """Index along axis 0 of the first row holding a NaN or an infinity; None when every value is finite."""
    finite = np.isfinite(values)
    if finite.all():
        return None
    bad = ~finite.reshape(finite.shape[0], -1).all(axis=1) if finite.ndim > 1 else ~finite
    return int(np.argmax(bad))


def first_zero_run(samples: np.ndarray, length: int) -> int | None:
    """Start of the first run of at least ``length`` zero samples (a PSD over it is zero); None when there is none.

    Such a run covers a whole aligned block of ``length // 2`` samples, and the blocks either side of a run of zero
    blocks hold a nonzero sample, so one pass over the blocks and a look into those two neighbours find it exactly.
    """
    size = samples.shape[0]
    if length < 1 or size < length:
        return None
    block = max(1, length // 2)
    whole = size // block * block
    zero = ~samples[:whole].reshape(-1, block).any(axis=1)
    edges = np.diff(np.concatenate(([0], zero.astype(np.int8), [0])))
    for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        lo, hi = first * block, last * block
        before = np.flatnonzero(samples[max(0, lo - block): lo])
        start = lo - block + int(before[-1]) + 1 if before.size else 0
        after = np.flatnonzero(samples[hi: hi + block])
        stop = hi + int(after[0]) if after.size else size
        if stop - start >= length:
            return int(start)
    return None
