"""Merging ledger shards of one kind into one file in bounded memory, as ``aframe-merge`` does; inputs are kept."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from executables.common import hdf5
from executables.common.atomic import atomic_path
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5
from executables.common.logs import Progress
from executables.formats.ledger import (
    GROUPS,
    METADATA,
    Ledger,
    PathLike,
    _check_finite,
    _combine_metadata,
    _Layout,
    _write_attrs,
)
from executables.formats.sets import MERGE_KINDS, ledger_class

log = logging.getLogger(__name__)

#: Bytes copied per step when merging shards (bounds the memory of a merge).
COPY_BYTES = 64 * 1024 * 1024


def merge(kind: str, inputs: Iterable[PathLike], output: PathLike, *, copy_bytes: int = COPY_BYTES) -> Path:
    """Concatenate ledger shards of one kind into ``output`` (atomically) and return it; inputs are never touched.

    Rows are copied ``copy_bytes`` at a time, so memory stays bounded whatever the shard sizes. Every shard must be
    the same ledger class with the same datasets (dtype and row shape) and the same ``same``-policy metadata
    (``ifos``, ``sample_rate``, ``duration``, ...): a mismatch is an ``InputError`` naming the shard and field.
    ``num_injections`` and ``length`` are summed.
    """
    if kind not in MERGE_KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}; expected one of {', '.join(MERGE_KINDS)}")
    inputs = [Path(path) for path in inputs]
    output = Path(output)
    if not inputs:
        raise InputError(output, None, "nothing to merge: no input shards given")
    seen: dict[Path, Path] = {}
    for path in inputs:
        resolved = path.resolve()
        if resolved == output.resolve():
            raise InputError(path, None, "is also the merge output")
        if resolved in seen:
            raise InputError(path, None, f"given twice (also as {seen[resolved]}); its rows would be counted twice")
        seen[resolved] = path

    cls, layouts = None, []
    for path in inputs:
        with open_hdf5(path) as handle:
            found = ledger_class(path, handle)
            if found not in MERGE_KINDS[kind]:
                allowed = " or ".join(c.__name__ for c in MERGE_KINDS[kind])
                raise InputError(path, "ledger", f"holds a {found.__name__}; --kind {kind} merges {allowed}")
            if cls is not None and found is not cls:
                raise InputError(path, "ledger", f"holds a {found.__name__}, {inputs[0]} a {cls.__name__}")
            cls = found
            layouts.append(cls._layout(path, handle))
    assert cls is not None
    _check_same_datasets(inputs, layouts)
    combined = _combine_metadata(cls, [(path, layout.metadata) for path, layout in zip(inputs, layouts, strict=True)])
    total = sum(layout.length for layout in layouts)
    extra_attrs = _common_extra_attrs(cls, inputs)

    log.info("merging %d %s shards (%d rows) into %s", len(inputs), cls.__name__, total, output)
    with atomic_path(output) as temporary, h5py.File(temporary, "w") as out, \
            Progress(total, "rows", log) as progress:
        for group in GROUPS.values():
            out.require_group(group)
        targets = {name: create_dataset(out, name, shape=(total, *shape), dtype=dtype)
                   for name, (dtype, shape) in layouts[0].datasets.items()}
        offset = 0
        for path, layout in zip(inputs, layouts, strict=True):
            with open_hdf5(path) as handle:
                _copy_rows(path, handle, targets, offset, layout.length, copy_bytes)
            offset += layout.length
            progress.update(layout.length)
        for name, value in extra_attrs.items():
            out.attrs[name] = value
        _write_attrs(out, cls.__name__, total, {name: combined[name] for name in combined})
    return output


def _check_same_datasets(inputs: Sequence[Path], layouts: Sequence[_Layout]) -> None:
    first = layouts[0].datasets
    for path, layout in zip(inputs[1:], layouts[1:], strict=True):
        for name in sorted(set(first) | set(layout.datasets)):
            if name not in layout.datasets:
                raise InputError(path, name, f"dataset missing (present in {inputs[0]})")
            if name not in first:
                raise InputError(path, name, f"dataset not in {inputs[0]}")
            if layout.datasets[name] != first[name]:
                dtype, shape = layout.datasets[name]
                raise InputError(path, name, f"rows are {dtype}{list(shape)}, in {inputs[0]} "
                                             f"{first[name][0]}{list(first[name][1])}")


def _common_extra_attrs(cls: type[Ledger], inputs: Sequence[Path]) -> dict[str, Any]:
    """Undeclared root attributes (from other writers) that every shard has with the same value are kept."""
    declared = {field.name for field in cls._fields(METADATA)} | {"ledger", "length"}
    common: dict[str, Any] | None = None
    for path in inputs:
        with open_hdf5(path) as handle:
            attrs = {name: handle.attrs[name] for name in handle.attrs if name not in declared}
        if common is None:
            common = attrs
        else:
            common = {name: value for name, value in common.items()
                      if name in attrs and np.array_equal(np.asarray(attrs[name]), np.asarray(value))}
    return common or {}


def _copy_rows(path: Path, handle: h5py.File, targets: Mapping[str, h5py.Dataset], offset: int, length: int,
               copy_bytes: int) -> None:
    for name, target in targets.items():
        source = handle[name]
        row_bytes = max(1, int(np.prod(source.shape[1:], dtype=np.int64)) * source.dtype.itemsize)
        step = max(1, copy_bytes // row_bytes)
        for start in range(0, length, step):
            stop = min(start + step, length)
            block = hdf5.read(path, source, slice(start, stop))
            _check_finite(path, source, block, lambda k, start=start: start + k)
            target[offset + start: offset + stop] = block
