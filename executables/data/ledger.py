"""Ledger files: the one definition of every HDF5 layout the data nodes write and training, inference and SV read.

Two families of files (DESIGN §6):

**Background strain** (``background-{t0}-{dur}.hdf5``): one root dataset per ifo (``H1``, ``L1``; float32 on disk,
chunked) with the attributes gwpy's HDF5 reader uses, ``x0`` (GPS start), ``dx`` (1 / sample rate) and ``xunit``
(``"s"``), so ``gwpy.timeseries.TimeSeriesDict.read(path, format="hdf5")`` gives the right times. ``write_background``
and ``BackgroundWriter`` write it; ``read_background`` reads a span of it (float32 or float64, the latter being
aframe's own files) as float64. Root attributes ``sample_rate``, ``t0``, ``duration`` and the ``-{t0}-{dur}.hdf5``
name, where a file has them, must agree with the datasets' ``dx``, ``x0`` and length: a contradiction is an
``InputError`` naming both values.

**Ledger sets** (aframe's ledger layout): root attribute ``length`` (rows), group ``parameters/`` (one 1-D or 2-D
dataset per parameter, first axis the rows), group ``waveforms/`` (one (rows, samples) float32 dataset per
waveform, chunked by rows for random reads) and metadata as root attributes; ``ledger`` names the class::

    WaveformSet  training polarizations  waveforms/plus, waveforms/cross; attrs sample_rate, duration, right_pad, ...
    ResponseSet  projected responses     waveforms/h1, waveforms/l1; parameters/snr, h1_snr, l1_snr
                                          (+ injection_time, shift for test injections); attrs ifos, sample_rate
    RejectedSet  rejected draws          parameters/ only

Each set is a dataclass whose fields carry a *kind* (``parameter``, ``waveform`` or ``metadata``, aframe's Ledger
idea): the kind alone decides where a field is stored. A field holding an array is stored under its own name in its
kind's group; the one field per kind that holds a mapping (``parameters``, ``waveforms``) spreads its keys over the
group. Every set records ``num_injections`` (draws made, accepted + rejected; summed by ``merge``).

Files are read without loading them whole: ``read(path, rows)`` takes a slice or any index array,
``iter_chunks(path, size)`` streams rows and ``merge`` copies shards in bounded chunks. A file that is not HDF5,
is truncated, is another kind of ledger or lacks a dataset raises ``InputError`` naming the file and dataset; so
does data that fails its HDF5 checksum (every dataset is written with one, ``executables.common.hdf5``) or holds a
NaN or an infinity (named by row, for strain by GPS time).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from executables.common import hdf5
from executables.common.atomic import atomic_path
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5
from executables.common.logs import Progress

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Rows = slice | Sequence[int] | np.ndarray | None

PARAMETER, WAVEFORM, METADATA = "parameter", "waveform", "metadata"
GROUPS = {PARAMETER: "parameters", WAVEFORM: "waveforms"}

#: Samples per chunk of a background dataset (8 s at 2048 Hz, 64 KiB of float32).
BACKGROUND_CHUNK = 16384
#: The span in a strain file's name: ``background-{t0}-{duration}.hdf5`` (ours, aframe's), ``PREFIX-{t0}-{dur}.hdf5``.
STRAIN_NAME = re.compile(r"-(?P<t0>\d+(?:\.\d+)?)-(?P<duration>\d+(?:\.\d+)?)\.hdf5$")
#: Bytes copied per step when merging shards (bounds the memory of a merge).
COPY_BYTES = 64 * 1024 * 1024


# -- rows ------------------------------------------------------------------------------------------------------------


def _normalize_rows(rows: Rows, length: int) -> slice | np.ndarray:
    """A slice stays a slice (clipped to the file); anything else becomes an int64 index array checked against it."""
    if rows is None:
        return slice(0, length)
    if isinstance(rows, slice):
        return slice(*rows.indices(length))
    index = np.asarray(rows)
    if index.dtype == bool:
        raise TypeError("rows must be a slice or integer indices, not a boolean mask")
    index = index.astype(np.int64, copy=False).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= length):
        raise IndexError(f"row indices must lie in [0, {length}), got [{index.min()}, {index.max()}]")
    return index


def _take(path: PathLike, dataset: h5py.Dataset, rows: slice | np.ndarray) -> np.ndarray:
    """Rows of a dataset in the order asked for (duplicates and any order allowed), reading only what is needed;
    a NaN or an infinity among them is an ``InputError`` naming the file, dataset and row."""
    if isinstance(rows, slice):
        values = hdf5.read(path, dataset, rows)
        _check_finite(path, dataset, values, lambda k: rows.start + k * (rows.step or 1))
        return values
    if rows.size == 0:
        return np.empty((0, *dataset.shape[1:]), dtype=dataset.dtype)
    unique, inverse = np.unique(rows, return_inverse=True)
    first, last = int(unique[0]), int(unique[-1])
    if last - first + 1 <= 4 * unique.size:  # dense enough: one contiguous read beats HDF5's point selection
        values = hdf5.read(path, dataset, slice(first, last + 1))[rows - first]
    else:
        values = hdf5.read(path, dataset, unique)[inverse]
    _check_finite(path, dataset, values, lambda k: int(rows[k]))
    return values


def _check_finite(path: PathLike, dataset: h5py.Dataset, values: np.ndarray, row_of: Callable[[int], int]) -> None:
    """Refuse rows holding NaN or infinity (a corrupt file, or a writer's bug): they would become results silently."""
    if values.dtype.kind == "f":
        bad = hdf5.first_nonfinite(values)
        if bad is not None:
            raise InputError(path, dataset.name.lstrip("/"), f"NaN or infinite value in row {row_of(bad)}")


# -- field declarations ----------------------------------------------------------------------------------------------


def _as_float(value: Any) -> float:
    return float(value)


def _as_int(value: Any) -> int:
    return int(value)


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_str_list(value: Any) -> list[str]:
    """ifo lists: stored as an array of strings; a comma-joined string (older files) is accepted too."""
    if isinstance(value, (str, bytes)):
        return [part.strip() for part in _as_str(value).split(",") if part.strip()]
    return [_as_str(item) for item in np.asarray(value).reshape(-1)]


def parameter(*, dtype: Any = None, group: bool = False, optional: bool = False, doc: str = "") -> Any:
    """A field stored under ``parameters/``: an array of one value per row, or (``group``) a name -> array mapping."""
    return _field(PARAMETER, dtype=dtype, group=group, optional=optional, doc=doc)


def waveform(*, dtype: Any = np.float32, group: bool = False, optional: bool = False, doc: str = "") -> Any:
    """A field stored under ``waveforms/``: a (rows, samples) array, or (``group``) a name -> array mapping."""
    return _field(WAVEFORM, dtype=dtype, group=group, optional=optional, doc=doc)


def metadata(convert: Callable[[Any], Any] = _as_float, *, merge: str = "same", optional: bool = False,
             doc: str = "") -> Any:
    """A root attribute. On merge, ``same`` values must agree across shards and ``sum`` values are added."""
    if merge not in ("same", "sum"):
        raise ValueError(f"merge must be 'same' or 'sum', got {merge!r}")
    info = {"kind": METADATA, "convert": convert, "merge": merge, "optional": optional, "doc": doc}
    if optional:
        return dataclasses.field(default=None, metadata=info)
    return dataclasses.field(metadata=info)


def _field(kind: str, *, dtype: Any, group: bool, optional: bool, doc: str) -> Any:
    info = {"kind": kind, "dtype": None if dtype is None else np.dtype(dtype), "group": group,
            "optional": optional, "doc": doc}
    if group:
        return dataclasses.field(default_factory=dict, metadata=info)
    if optional:
        return dataclasses.field(default=None, metadata=info)
    return dataclasses.field(metadata=info)


def _kind(field: dataclasses.Field) -> str:
    return field.metadata["kind"]


LedgerT = TypeVar("LedgerT", bound="Ledger")


@dataclass(kw_only=True, eq=False)
class Ledger:
    """Base of the ledger sets: storage, reading by rows, chunked iteration and merging, all driven by the fields."""

    #: Draws made to produce these rows (accepted + rejected); ``None`` means one per row. Summed on merge.
    num_injections: int | None = metadata(_as_int, merge="sum", optional=True)

    # -- construction and checks

    def __post_init__(self) -> None:
        length = None
        for field in dataclasses.fields(self):
            kind = _kind(field)
            if kind == METADATA:
                value = getattr(self, field.name)
                if value is not None:
                    setattr(self, field.name, field.metadata["convert"](value))
                elif not field.metadata["optional"]:
                    raise ValueError(f"{type(self).__name__}: metadata {field.name!r} is required")
                continue
            for name, array in self._arrays_of(field, cast=True):
                if array.ndim == 0:
                    raise ValueError(f"{type(self).__name__}: {GROUPS[kind]}/{name} must have one entry per row")
                if length is None:
                    length = array.shape[0]
                elif array.shape[0] != length:
                    raise ValueError(f"{type(self).__name__}: {GROUPS[kind]}/{name} has {array.shape[0]} rows, "
                                     f"others have {length}")
                if kind == WAVEFORM and array.ndim != 2:
                    raise ValueError(f"{type(self).__name__}: waveforms/{name} must be (rows, samples), "
                                     f"got shape {array.shape}")
        self._length = 0 if length is None else int(length)
        self._check_names()
        if self.num_injections is None:
            self.num_injections = self._length
        if self.num_injections < self._length:
            raise ValueError(f"{type(self).__name__}: num_injections {self.num_injections} is less than the "
                             f"{self._length} rows")
        self.check()

    def _arrays_of(self, field: dataclasses.Field, cast: bool = False) -> list[tuple[str, np.ndarray]]:
        """(name in the group, array) of a parameter or waveform field; ``cast`` stores the declared dtype."""
        value = getattr(self, field.name)
        dtype = field.metadata["dtype"]
        if value is None:
            if not field.metadata["optional"]:
                raise ValueError(f"{type(self).__name__}: {field.name!r} is required")
            return []
        items = list(value.items()) if field.metadata["group"] else [(field.name, value)]
        arrays = []
        for name, array in items:
            array = np.asarray(array)
            if dtype is not None:
                array = array.astype(dtype, copy=False)
            elif array.dtype.kind not in "biuf":
                raise ValueError(f"{type(self).__name__}: {name!r} must be numeric, got {array.dtype}")
            arrays.append((str(name), array))
        if cast:
            if field.metadata["group"]:
                setattr(self, field.name, dict(arrays))
            else:
                setattr(self, field.name, arrays[0][1])
        return arrays

    def _check_names(self) -> None:
        for kind in (PARAMETER, WAVEFORM):
            names = [name for field in self._fields(kind) for name, _ in self._arrays_of(field)]
            duplicated = sorted({name for name in names if names.count(name) > 1})
            if duplicated:
                raise ValueError(f"{type(self).__name__}: {GROUPS[kind]}/{duplicated[0]} is given twice")

    def check(self) -> None:
        """Checks of one kind of set beyond equal row counts (subclasses extend); raise ``ValueError``."""

    @classmethod
    def _fields(cls, kind: str) -> list[dataclasses.Field]:
        return [field for field in dataclasses.fields(cls) if _kind(field) == kind]

    def __len__(self) -> int:
        return self._length

    def metadata_values(self) -> dict[str, Any]:
        """The metadata fields and their values (``None`` for optional ones not set)."""
        return {field.name: getattr(self, field.name) for field in self._fields(METADATA)}

    def datasets(self) -> dict[str, np.ndarray]:
        """Every stored array by its path in the file (``parameters/snr``, ``waveforms/h1``, ...)."""
        return {f"{GROUPS[_kind(field)]}/{name}": array
                for kind in (PARAMETER, WAVEFORM) for field in self._fields(kind)
                for name, array in self._arrays_of(field)}

    # -- writing

    def write(self, path: PathLike) -> Path:
        """Write this set to ``path`` atomically (a temporary sibling renamed at the end); return the path."""
        with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
            self.write_to(handle)
        return Path(path)

    def write_to(self, group: h5py.Group) -> None:
        """Write this set into an open file or a group of one (a file that holds several sets)."""
        for name, array in self.datasets().items():
            create_dataset(group, name, data=array)
        for name in GROUPS.values():
            group.require_group(name)
        _write_attrs(group, type(self).__name__, len(self), self.metadata_values())

    # -- reading

    @classmethod
    def length(cls, path: PathLike) -> int:
        """Rows in the file at ``path`` (checked against its datasets)."""
        with open_hdf5(path) as handle:
            return cls._layout(path, handle).length

    @classmethod
    def read(cls: type[LedgerT], path: PathLike, rows: Rows = None) -> LedgerT:
        """Read the set at ``path``: all rows, a slice, or rows by index (any order, duplicates allowed)."""
        with open_hdf5(path) as handle:
            layout = cls._layout(path, handle)
            return cls._read_rows(path, handle, layout, _normalize_rows(rows, layout.length))

    @classmethod
    def read_from(cls: type[LedgerT], path: PathLike, group: h5py.Group) -> LedgerT:
        """Every row of the set in an open file or group (``path`` names the file in errors)."""
        layout = cls._layout(path, group)
        return cls._read_rows(path, group, layout, slice(0, layout.length))

    @classmethod
    def read_parameters(cls, path: PathLike, names: Sequence[str] | None = None,
                        rows: Rows = None) -> dict[str, np.ndarray]:
        """Only ``parameters/`` (all, or ``names``), without touching the waveforms (SV needs no responses)."""
        with open_hdf5(path) as handle:
            layout = cls._layout(path, handle)
            selection = _normalize_rows(rows, layout.length)
            wanted = layout.names[PARAMETER] if names is None else list(names)
            return {name: _take(path, hdf5.dataset(path, handle, f"parameters/{name}"), selection) for name in wanted}

    @classmethod
    def iter_chunks(cls: type[LedgerT], path: PathLike, size: int) -> Iterator[LedgerT]:
        """Consecutive sets of at most ``size`` rows covering the file, each read when it is needed."""
        if size < 1:
            raise ValueError(f"chunk size must be positive, got {size}")
        with open_hdf5(path) as handle:
            layout = cls._layout(path, handle)
            for start in range(0, layout.length, size):
                yield cls._read_rows(path, handle, layout, slice(start, min(start + size, layout.length)))

    @classmethod
    def sample(cls: type[LedgerT], path: PathLike, n: int, rng: np.random.Generator) -> LedgerT:
        """``n`` distinct rows drawn at random by ``rng``, in the order drawn."""
        length = cls.length(path)
        if n > length:
            raise ValueError(f"{path}: cannot sample {n} distinct rows from {length}")
        return cls.read(path, rng.choice(length, size=n, replace=False))

    @classmethod
    def concatenate(cls: type[LedgerT], sets: Sequence[LedgerT]) -> LedgerT:
        """One set of the rows of ``sets`` in order; their metadata must agree as in ``merge``."""
        if not sets:
            raise ValueError("nothing to concatenate")
        combined = _combine_metadata(cls, [(f"set {k}", item.metadata_values()) for k, item in enumerate(sets)])
        values: dict[str, Any] = dict(combined)
        for kind in (PARAMETER, WAVEFORM):
            for field in cls._fields(kind):
                parts = [dict(item._arrays_of(field)) for item in sets]
                names = list(parts[0])
                for k, part in enumerate(parts):
                    if list(part) != names:
                        raise ValueError(f"set {k} has {GROUPS[kind]} {sorted(part)}, set 0 has {sorted(names)}")
                joined = {name: np.concatenate([part[name] for part in parts]) for name in names}
                values[field.name] = joined if field.metadata["group"] else joined.get(field.name)
        return cls(**values)

    @classmethod
    def _read_rows(cls: type[LedgerT], path: PathLike, handle: h5py.File, layout: _Layout,
                   rows: slice | np.ndarray) -> LedgerT:
        values: dict[str, Any] = dict(layout.metadata)
        for kind in (PARAMETER, WAVEFORM):
            group = GROUPS[kind]
            declared = {field.name for field in cls._fields(kind) if not field.metadata["group"]}
            for field in cls._fields(kind):
                if field.metadata["group"]:
                    names = [name for name in layout.names[kind] if name not in declared]
                    values[field.name] = {name: _take(path, handle[f"{group}/{name}"], rows) for name in names}
                elif field.name in layout.names[kind]:
                    values[field.name] = _take(path, handle[f"{group}/{field.name}"], rows)
        try:
            return cls(**values)
        except ValueError as exc:
            raise InputError(path, None, f"not a valid {cls.__name__}: {exc}") from None

    @classmethod
    def _layout(cls, path: PathLike, handle: h5py.File) -> _Layout:
        """Check that the open file is a set of this class and describe it (rows, dataset names, metadata)."""
        layout = _inspect(path, handle)
        if layout.ledger is not None and layout.ledger != cls.__name__:
            raise InputError(path, "ledger", f"this file holds a {layout.ledger}, not a {cls.__name__}")
        for kind in (PARAMETER, WAVEFORM):
            for field in cls._fields(kind):
                if not field.metadata["group"] and not field.metadata["optional"] \
                        and field.name not in layout.names[kind]:
                    raise InputError(path, f"{GROUPS[kind]}/{field.name}", "dataset missing")
        layout.metadata = _read_metadata(cls, path, handle)
        if layout.metadata.get("num_injections") is None:
            layout.metadata["num_injections"] = layout.length
        return layout


def _write_attrs(handle: h5py.File, ledger: str, length: int, values: Mapping[str, Any]) -> None:
    handle.attrs["ledger"] = ledger
    handle.attrs["length"] = np.int64(length)
    for name, value in values.items():
        if value is not None:
            handle.attrs[name] = value


def _read_metadata(cls: type[Ledger], path: PathLike, handle: h5py.File) -> dict[str, Any]:
    values = {}
    for field in cls._fields(METADATA):
        if field.name not in handle.attrs:
            if not field.metadata["optional"]:
                raise InputError(path, field.name, "metadata attribute missing")
            values[field.name] = None
            continue
        try:
            values[field.name] = field.metadata["convert"](handle.attrs[field.name])
        except (TypeError, ValueError) as exc:
            raise InputError(path, field.name, f"bad metadata value ({exc})") from None
    return values


@dataclass
class _Layout:
    """What a ledger file holds: its class (if recorded), rows, datasets (dtype, row shape) and metadata."""

    ledger: str | None
    length: int
    datasets: dict[str, tuple[np.dtype, tuple[int, ...]]]
    names: dict[str, list[str]]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


def _inspect(path: PathLike, handle: h5py.File) -> _Layout:
    """Check the generic ledger structure of an open file: ``length`` matches every dataset of both groups."""
    if "length" not in handle.attrs:
        raise InputError(path, "length", "root attribute missing (not a ledger file)")
    try:
        length = int(handle.attrs["length"])
    except (TypeError, ValueError):
        raise InputError(path, "length", f"not an integer: {handle.attrs['length']!r}") from None
    ledger = _as_str(handle.attrs["ledger"]) if "ledger" in handle.attrs else None
    datasets, names = {}, {}
    for kind, group in GROUPS.items():
        names[kind] = []
        if group not in handle:
            continue
        for name in handle[group]:
            dataset = hdf5.dataset(path, handle, f"{group}/{name}")
            if dataset.ndim == 0 or dataset.shape[0] != length:
                raise InputError(path, f"{group}/{name}", f"has shape {dataset.shape}, the file's length is {length}")
            datasets[f"{group}/{name}"] = (dataset.dtype, dataset.shape[1:])
            names[kind].append(name)
    return _Layout(ledger, length, datasets, names)


def _combine_metadata(cls: type[Ledger], items: Sequence[tuple[Any, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merged metadata of several shards: ``same`` fields must agree, ``sum`` fields are added."""
    (first_source, first), combined = items[0], dict(items[0][1])
    for field in cls._fields(METADATA):
        if field.metadata["merge"] == "sum":
            combined[field.name] = sum(values[field.name] or 0 for _, values in items)
            continue
        for source, values in items[1:]:
            if values[field.name] != first[field.name]:
                raise InputError(source, field.name, f"{values[field.name]!r} differs from "
                                                     f"{first[field.name]!r} in {first_source}")
    return combined


# -- the sets --------------------------------------------------------------------------------------------------------


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
    approximant: str = metadata(_as_str, doc="lalsimulation approximant")
    prior: str = metadata(_as_str, doc="prior name")
    minimum_frequency: float = metadata(doc="Hz")
    reference_frequency: float = metadata(doc="Hz")

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


@dataclass(kw_only=True, eq=False)
class ResponseSet(Ledger):
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
class RejectedSet(Ledger):
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


# -- merging ---------------------------------------------------------------------------------------------------------


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


# -- background strain -----------------------------------------------------------------------------------------------


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
