"""What infer nodes compile from a model repository, cached beside it: built once per key, reused by every node.

A TensorRT plan or an AOTInductor package is tied to the device and the compiler's version, so each infer node
looks one up in ``<repository>.plans/<model>/`` (beside the repository, never in it: the export node's done-marker
records the repository's bytes). The first node builds it under an exclusive lock shared by every node (the others
wait, then reuse it) and moves it in atomically (``atomic_path``: a killed build leaves no file that looks complete).
A cached file that turns out not to load is rebuilt in its place once (``stale``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from executables.common.atomic import atomic_path

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe(name: str, fallback: str) -> str:
    """``name`` (a device name) as part of a file name: runs of other characters than letters, digits and dots
    become one dash."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-") or fallback


def cache_directory(repository: Path, model_name: str) -> Path:
    """``<repository>.plans/<model>``: beside the export's output, never inside it."""
    repository = Path(repository).absolute()
    return repository.with_name(repository.name + ".plans") / model_name


def identity(path: Path) -> tuple[int, int] | None:
    """Which file is at ``path`` (inode, mtime; None: none), what ``cached_file`` is told is ``stale``."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns


def cached_file(cache: Path, filename: str, build: Callable[[Path], object], what: str,
                stale: tuple[int, int] | None = None) -> Path:
    """``cache/filename``, built first (once, under a lock shared by every node) if it is missing or is still the
    ``stale`` file (``identity`` of a copy that did not load)."""
    path = cache / filename
    if identity(path) not in (None, stale):
        log.info("reusing the %s %s", what, path)
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{filename}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if identity(path) not in (None, stale):
                log.info("reusing the %s %s (built by another node meanwhile)", what, path)
                return path
            log.info("building the %s %s%s", what, path, " (the cached one does not load)" if stale else "")
            with atomic_path(path) as temporary:
                build(temporary)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
