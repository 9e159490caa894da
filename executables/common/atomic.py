"""Atomic outputs: a killed node leaves a hidden temporary, never a final name that looks complete.

Every writer here works on a hidden sibling ``.NAME.tmp-<pid>-<random>`` in the final name's directory (the same
filesystem, so the last step is a rename) and moves it onto the final name only when the body finished without an
exception. Before it starts, it removes the temporaries of the same final name whose writer no longer runs on this
host: a node killed mid-write leaves its temporary behind, and its next run, writing the same output, sweeps it.
Standard library only (the name format lives in ``aframe_dag.nodecheck``, which ``aframe-dag clean`` reads too).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from aframe_dag.nodecheck import process_running, temporary_name, temporary_of


def _temporary_sibling(path: Path) -> Path:
    """A fresh hidden name next to ``path``, tagged with this process's id for ``cleanup_stale_temporaries``."""
    return path.with_name(temporary_name(path.name))


def _fresh_temporary(final: Path) -> Path:
    """A temporary for ``final``, once killed writers' temporaries of it are gone: each rerun cleans up after the
    attempt before."""
    cleanup_stale_temporaries(final.parent, [final.name])
    return _temporary_sibling(final)


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable; filesystems that cannot sync a directory (EINVAL) are skipped."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    """Flush a file another library wrote and closed, so the rename never points at missing data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path for libraries that open the file themselves (h5py, torch.save, onnx).

    On success the file written there replaces ``path``; on any exception it is removed and ``path`` is untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = _fresh_temporary(final)
    try:
        yield temporary
        if not temporary.is_file():
            raise RuntimeError(f"{final}: nothing was written to the temporary file {temporary.name}")
        _fsync_file(temporary)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield an open file that replaces ``path`` only if the block succeeds; text modes use UTF-8."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_file writes a new file; mode must start with 'w', got {mode!r}")
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as temporary, open(temporary, mode, encoding=encoding) as handle:
        yield handle


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` before it is renamed into place."""
    for directory, _, files in os.walk(root):
        for name in files:
            _fsync_file(Path(directory, name))
        _fsync_directory(Path(directory))


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory that becomes ``path`` only if the block succeeds.

    An existing ``path`` is taken to be this node's own output from an earlier attempt: it is moved aside, the new
    directory renamed in, and then the old one removed. Never point this at a directory other nodes write into.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = _fresh_temporary(final)
    temporary.mkdir()
    previous = None
    try:
        yield temporary
        _fsync_tree(temporary)
        if final.exists() or final.is_symlink():
            previous = _temporary_sibling(final)
            os.replace(final, previous)
        os.replace(temporary, final)
    except BaseException:
        _remove(temporary)
        if previous is not None and not final.exists():
            os.replace(previous, final)
        raise
    _fsync_directory(final.parent)
    if previous is not None:
        _remove(previous)


def cleanup_stale_temporaries(
    directory: str | os.PathLike[str], names: Iterable[str] | None = None
) -> list[Path]:
    """Remove temporaries that killed writers left in ``directory``; return what was removed.

    Only temporaries whose writer no longer runs on this host are touched, never one still being written (this
    process's own included). ``names`` limits the sweep to the temporaries of those final names: pass the node's
    own output names whenever other nodes write into the same directory.
    """
    wanted = None if names is None else set(names)
    root = Path(directory)
    if not root.is_dir():
        return []
    with os.scandir(root) as entries:  # names only: a done/ dir may hold 100k markers
        hidden = sorted(entry.name for entry in entries if entry.name.startswith("."))
    removed: list[Path] = []
    for name in hidden:
        parsed = temporary_of(name)
        if parsed is None or (wanted is not None and parsed[0] not in wanted) or process_running(parsed[1]):
            continue
        _remove(root / name)
        removed.append(root / name)
    return removed
