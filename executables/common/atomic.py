"""Atomic outputs: a killed node leaves a hidden temporary, never a final name that looks complete.

Every writer here works on a hidden sibling ``.NAME.tmp-<pid>-<random>`` in the final name's directory (the same
filesystem, so the last step is a rename) and moves it onto the final name only when the body finished without an
exception. Standard library only.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")


def _temporary_sibling(path: Path) -> Path:
    """A fresh hidden name next to ``path``, tagged with this process's id for ``cleanup_stale_temporaries``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


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
    temporary = _temporary_sibling(final)
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
    temporary = _temporary_sibling(final)
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
    """Remove temporaries that earlier, killed attempts left in ``directory``; return what was removed.

    Only temporaries made by other processes are touched (never this process's own, which may still be open).
    ``names`` limits the sweep to the temporaries of those final names: pass the node's own output names whenever
    other nodes write into the same directory, since their temporaries may belong to jobs still running.
    """
    wanted = None if names is None else set(names)
    own_pid = str(os.getpid())
    removed: list[Path] = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    for entry in sorted(root.iterdir()):
        match = _TEMPORARY.match(entry.name)
        if match is None or match["pid"] == own_pid:
            continue
        if wanted is not None and match["name"] not in wanted:
            continue
        _remove(entry)
        removed.append(entry)
    return removed
