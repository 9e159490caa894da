"""Ledger sets: aframe's ledger layout, the one storage of every HDF5 set of rows the node programs share.

A set's file has the root attribute ``length`` (rows), group ``parameters/`` (one 1-D or 2-D dataset per parameter,
first axis the rows), group ``waveforms/`` (one (rows, samples) float32 dataset per waveform, chunked by rows for
random reads) and metadata as root attributes; ``ledger`` names the class (``executables.formats.sets``,
``executables.formats.events``).

Each set is a dataclass whose fields carry a *kind* (``parameter``, ``waveform`` or ``metadata``, aframe's Ledger
idea): the kind alone decides where a field is stored. A field holding an array is stored under its own name in its
kind's group; the one field per kind that holds a mapping (``parameters``, ``waveforms``) spreads its keys over the
group. Every set records ``num_injections`` (draws made, accepted + rejected; summed by ``merge``).

aframe's own files have this layout without the ``ledger`` attribute; a set whose per-ifo columns aframe keeps in
one 2-D dataset lists them through ``Ledger._columns`` (``executables.formats.aframe``), and each is read as a
parameter of its own.

Files are read without loading them whole: ``read(path, rows)`` takes a slice or any index array and
``iter_chunks(path, size)`` streams rows. A file that is not HDF5, is truncated, is another kind of ledger or lacks
a dataset raises ``InputError`` naming the file and dataset; so does data that fails its HDF5 checksum (every
dataset is written with one, ``executables.common.hdf5``) or holds a NaN or an infinity (named by row).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from executables.common import hdf5
from executables.common.atomic import atomic_path
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset, open_hdf5

PathLike = str | os.PathLike[str]
Rows = slice | Sequence[int] | np.ndarray | None

PARAMETER, WAVEFORM, METADATA = "parameter", "waveform", "metadata"
GROUPS = {PARAMETER: "parameters", WAVEFORM: "waveforms"}


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


def _take(path: PathLike, dataset: h5py.Dataset, rows: slice | np.ndarray, column: int | None = None) -> np.ndarray:
    """Rows of a dataset in the order asked for (duplicates and any order allowed), reading only what is needed,
    or of one ``column`` of a 2-D dataset; a NaN or an infinity among them is an ``InputError`` naming the file,
    dataset and row."""
    if isinstance(rows, slice):
        values = hdf5.read(path, dataset, rows)
    elif rows.size == 0:
        values = np.empty((0, *dataset.shape[1:]), dtype=dataset.dtype)
    else:
        unique, inverse = np.unique(rows, return_inverse=True)
        first, last = int(unique[0]), int(unique[-1])
        if last - first + 1 <= 4 * unique.size:  # dense enough: one contiguous read beats HDF5's point selection
            values = hdf5.read(path, dataset, slice(first, last + 1))[rows - first]
        else:
            values = hdf5.read(path, dataset, unique)[inverse]
    if column is not None:
        values = values[:, column]
    _check_finite(path, dataset, values, functools.partial(_row_number, rows))
    return values


def _row_number(rows: slice | np.ndarray, k: int) -> int:
    """The file row of the ``k``-th row read."""
    return rows.start + k * (rows.step or 1) if isinstance(rows, slice) else int(rows[k])


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
    def _columns(cls, path: PathLike, handle: h5py.Group) -> dict[str, tuple[str, int]]:
        """Parameters a file stores as columns of a 2-D dataset, ``{name: (dataset, column)}`` (none here; sets
        that read aframe's files extend it)."""
        return {}

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
    def recorded_draws(cls, path: PathLike) -> int | None:
        """The file's ``num_injections``; None where it records none (aframe's rejected draws: aframe normalises by
        accepted + rejected rows instead)."""
        with open_hdf5(path) as handle:
            cls._layout(path, handle)
            return _read_metadata(cls, path, handle)["num_injections"]

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
            return {name: layout.take(path, handle, PARAMETER, name, selection) for name in wanted}

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
            declared = {field.name for field in cls._fields(kind) if not field.metadata["group"]}
            for field in cls._fields(kind):
                if field.metadata["group"]:
                    names = [name for name in layout.names[kind] if name not in declared]
                    values[field.name] = {name: layout.take(path, handle, kind, name, rows) for name in names}
                elif field.name in layout.names[kind]:
                    values[field.name] = layout.take(path, handle, kind, field.name, rows)
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
        layout.split_columns(cls._columns(path, handle))
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
    #: Parameters read as one column of a 2-D dataset (aframe's ``ifo_snrs``): name -> (dataset, column).
    columns: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)

    def split_columns(self, columns: dict[str, tuple[str, int]]) -> None:
        """List each column of a 2-D parameter dataset as a parameter of its own, in place of the dataset."""
        sources = {dataset for dataset, _ in columns.values()}
        self.names[PARAMETER] = [name for name in self.names[PARAMETER] if name not in sources] + list(columns)
        self.columns = dict(columns)

    def take(self, path: PathLike, handle: h5py.Group, kind: str, name: str, rows: slice | np.ndarray) -> np.ndarray:
        """Rows of the parameter or waveform ``name``, from its own dataset or its column of a 2-D one."""
        if kind == PARAMETER and name in self.columns:
            dataset, column = self.columns[name]
            return _take(path, hdf5.dataset(path, handle, f"parameters/{dataset}"), rows, column)
        return _take(path, hdf5.dataset(path, handle, f"{GROUPS[kind]}/{name}"), rows)


def _inspect(path: PathLike, handle: h5py.File) -> _Layout:
    """Check the generic ledger structure of an open file: ``length`` matches every dataset of both groups."""
    if "length" not in handle.attrs:
        raise InputError(path, "length", "root attribute missing (not a ledger file, neither aframe-dag's nor "
                                         "aframe's layout)")
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
