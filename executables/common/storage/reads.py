"""Reading any path (issue 9): ``exists``, ``size``, ``listdir``, and ``local_copy``, a local file for any path.

A local path comes back unchanged; an ``s3://`` object is downloaded to ``<scratch>/<bucket>/<key>``:

- to a hidden temporary next to that name, moved into place only after the integrity check (size, then MD5 against
  the ETag when it is a plain MD5, else against the ``x-amz-meta-md5`` that ``upload`` stores), so a killed or
  corrupt download never leaves a file that looks complete; a failed check is a ``TransientError`` (exit 1, retried);
- under an exclusive ``fcntl.flock`` on ``<local>.lock``, so two processes on one machine never fetch the same object
  at once: the second waits and then reuses the first one's copy;
- reused without a download when a complete copy is already there: its size matches and either the sidecar
  ``<local>.s3.json`` written after the last verified download still names the object's ETag and the file's
  size and mtime, or the file's MD5 matches the object's known MD5. Anything else (a truncated copy, a changed
  object) is downloaded again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from executables.common.atomic import atomic_file, atomic_path
from executables.common.errors import InputError, TransientError
from executables.common.storage.checksums import _etag, expected_md5, file_md5
from executables.common.storage.clients import _head, _mapped_errors, _Missing, _s3
from executables.common.storage.paths import SCHEME, PathLike, S3Url, _local_name, _object_url, is_remote, parse_url

log = logging.getLogger(__name__)


def exists(path: PathLike, *, s3: Any | None = None) -> bool:
    """Whether a local path, S3 object, S3 prefix (``s3://b/dir`` with objects under ``dir/``) or bucket exists."""
    if not is_remote(path):
        return Path(path).exists()
    url = parse_url(str(path))
    s3 = _s3(s3)
    try:
        if not url.key:
            with _mapped_errors(str(path), s3, missing="no such bucket"):
                s3.head_bucket(Bucket=url.bucket)
            return True
        if not url.key.endswith("/"):
            with contextlib.suppress(_Missing):
                _head(s3, url)
                return True
        with _mapped_errors(str(path), s3, missing="no such bucket"):
            listing = s3.list_objects_v2(Bucket=url.bucket, Prefix=url.key.rstrip("/") + "/", MaxKeys=1)
    except _Missing:
        return False
    return listing.get("KeyCount", 0) > 0


def size(path: PathLike, *, s3: Any | None = None) -> int:
    """Size in bytes of a local file or an S3 object (``InputError`` when it does not exist)."""
    if not is_remote(path):
        try:
            return Path(path).stat().st_size
        except FileNotFoundError as exc:
            raise InputError(path, None, "no such file") from exc
    return int(_head(_s3(s3), _object_url(str(path)))["ContentLength"])


def listdir(path: PathLike, *, s3: Any | None = None) -> list[str | Path]:
    """The files directly inside a local directory or under an S3 prefix (one level, sorted)."""
    if not is_remote(path):
        return sorted(p for p in Path(path).iterdir() if p.is_file())
    url = parse_url(str(path))
    prefix = url.key.rstrip("/") + "/" if url.key else ""
    s3 = _s3(s3)
    found: list[str | Path] = []
    with _mapped_errors(str(path), s3, missing="no such bucket"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=url.bucket, Prefix=prefix, Delimiter="/"):
            found.extend(f"{SCHEME}{url.bucket}/{item['Key']}" for item in page.get("Contents", []))
    return sorted(found)


def _sidecar(local: Path) -> Path:
    return local.with_name(local.name + ".s3.json")


def _lock_path(local: Path) -> Path:
    return local.with_name(local.name + ".lock")


def _sidecar_matches(local: Path, head: dict[str, Any]) -> bool:
    try:
        record = json.loads(_sidecar(local).read_text())
        stat = local.stat()
    except (OSError, ValueError):
        return False
    return (
        record.get("etag") == _etag(head)
        and record.get("size") == stat.st_size == int(head["ContentLength"])
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_sidecar(local: Path, url: S3Url, head: dict[str, Any]) -> None:
    stat = local.stat()
    record = {"url": str(url), "etag": _etag(head), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with atomic_file(_sidecar(local), "w") as handle:
        json.dump(record, handle)


def _complete_copy(local: Path, head: dict[str, Any]) -> bool:
    """Whether ``local`` already holds this object: same size, and the sidecar or the MD5 confirms the content."""
    try:
        if local.stat().st_size != int(head["ContentLength"]):
            return False
    except FileNotFoundError:
        return False
    if _sidecar_matches(local, head):
        return True
    md5 = expected_md5(head)
    return md5 is not None and file_md5(local) == md5


def _verify(path: Path, url: S3Url, head: dict[str, Any]) -> None:
    """Integrity check of a downloaded file; a mismatch is transient (a retry downloads again)."""
    want = int(head["ContentLength"])
    got = path.stat().st_size
    if got != want:
        raise TransientError(f"{url}: downloaded {got} bytes, the object has {want}")
    md5 = expected_md5(head)
    if md5 is None:
        log.debug("%s: multipart object without stored MD5; checked size only", url)
        return
    actual = file_md5(path)
    if actual != md5:
        raise TransientError(f"{url}: MD5 of the download {actual} differs from the object's {md5}")


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_partials(local: Path) -> None:
    """Remove temporaries of this file that a killed download left (we hold the lock, so none is in use)."""
    for entry in local.parent.glob(f".{_glob_escape(local.name)}.tmp-*"):
        with contextlib.suppress(OSError):
            entry.unlink()


def _glob_escape(name: str) -> str:
    """Escape glob metacharacters in a file name."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def local_copy(
    path: PathLike, scratch_dir: PathLike, *, s3: Any | None = None, transfer_config: Any | None = None
) -> Path:
    """A local file holding ``path``: the path itself when local, else a verified copy under ``scratch_dir``."""
    if not is_remote(path):
        return Path(path)
    url = _object_url(str(path))
    local = _local_name(url, scratch_dir)
    s3 = _s3(s3)
    with _locked(_lock_path(local)):
        head = _head(s3, url)
        if _complete_copy(local, head):
            if not _sidecar_matches(local, head):
                _write_sidecar(local, url, head)
            log.info("%s: reusing the complete local copy %s", url, local)
            return local
        _remove_stale_partials(local)
        log.info("%s: downloading %d bytes to %s", url, int(head["ContentLength"]), local)
        with atomic_path(local) as temporary:
            with _mapped_errors(str(url), s3), open(temporary, "wb") as handle:
                s3.download_fileobj(url.bucket, url.key, handle, Config=transfer_config)
            _verify(temporary, url, head)
        _write_sidecar(local, url, head)
    return local


def local_copies(
    paths: Iterable[PathLike], scratch_dir: PathLike, *, s3: Any | None = None, transfer_config: Any | None = None
) -> list[Path]:
    """``local_copy`` for each path, in order."""
    return [local_copy(p, scratch_dir, s3=s3, transfer_config=transfer_config) for p in paths]
