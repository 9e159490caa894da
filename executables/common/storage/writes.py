"""Writing any path (issue 12): ``upload`` sends a finished local file and verifies it; ``writable`` gives a node a
local file to write that is uploaded when its block succeeds (data nodes write ``s3://`` outputs this way, DESIGN §12):

- checksummed: the whole-file MD5 is stored as ``x-amz-meta-md5``; each part (or the single PUT) carries its
  ``Content-MD5``, which S3 checks, and the ETag S3 returns for it must equal the part's MD5; afterwards
  ``head_object`` must report the file's size, its MD5 and the ETag of exactly these parts;
- multipart above the transfer threshold, parts sent concurrently (at most 10,000 parts: the part size grows);
- atomic from the reader's view: S3 shows an object only once its PUT or ``CompleteMultipartUpload`` succeeds, so an
  upload killed half-way leaves at most an unfinished multipart upload, which no reader lists or reads;
- resumed: a retried upload of the same file finds the unfinished multipart upload of its key whose parts all
  match the file's own parts (size and MD5) and sends only the missing parts; other unfinished uploads of the key
  are aborted once it completes; an object that already holds the file (size and stored MD5) is not sent again;
- retried with exponential backoff and jitter: botocore retries each request (standard mode), and ``upload``
  retries a failed attempt (a ``TransientError``) ``attempts`` times in all before giving up.

A verified upload is remembered for this process (``verified_output``), so the done-marker written after the node
body returns records the object's size and ETag without another request (``markers.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from executables.common.atomic import atomic_path
from executables.common.errors import InputError, TransientError
from executables.common.storage.checksums import _HASH_CHUNK, _PLAIN_ETAG, MD5_METADATA_KEY, _etag, expected_md5
from executables.common.storage.clients import _head, _mapped_errors, _Missing, _s3
from executables.common.storage.paths import PathLike, S3Url, _object_url, is_remote

log = logging.getLogger(__name__)

MIN_PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)
MAX_PARTS = 10_000  # S3's most parts in one upload
UPLOAD_ATTEMPTS = 4
UPLOAD_BACKOFF = 2.0  # seconds before the second attempt; doubled each time, with jitter

# what each verified upload (or checked object) of this process looked like, for the done-marker
_VERIFIED: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class _Part:
    number: int
    offset: int
    length: int
    md5: bytes

    @property
    def hex(self) -> str:
        return self.md5.hex()


@dataclass(frozen=True)
class _Digest:
    """A file's size, whole MD5 and the MD5 of each part it is sent in (one part below the threshold)."""

    size: int
    md5: str
    parts: tuple[_Part, ...]
    multipart: bool

    @property
    def etag(self) -> str:
        """The ETag S3 gives the object: the MD5, or for a multipart upload the MD5 of the part MD5s and ``-N``."""
        if not self.multipart:
            return self.md5
        joined = hashlib.md5(b"".join(p.md5 for p in self.parts), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(self.parts)}"


def _transfer_settings(config: Any | None) -> tuple[int, int, int]:
    """Threshold, part size and concurrency from a boto3 ``TransferConfig`` (its defaults when None)."""
    from boto3.s3.transfer import TransferConfig

    config = config or TransferConfig()
    return int(config.multipart_threshold), int(config.multipart_chunksize), max(int(config.max_concurrency), 1)


def _digest(source: Path, threshold: int, chunk: int) -> _Digest:
    """Hash ``source`` in one pass: the whole-file MD5 and the MD5 of each part of ``chunk`` bytes."""
    total = source.stat().st_size
    multipart = total >= threshold
    if multipart:
        chunk = max(chunk, -(-total // MAX_PARTS))
    else:
        chunk = max(total, 1)
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[_Part] = []
    with open(source, "rb") as handle:
        offset = 0
        while offset < total or not parts:
            part = hashlib.md5(usedforsecurity=False)
            length = 0
            while length < chunk:
                block = handle.read(min(_HASH_CHUNK, chunk - length))
                if not block:
                    break
                part.update(block)
                whole.update(block)
                length += len(block)
            parts.append(_Part(len(parts) + 1, offset, length, part.digest()))
            offset += length
            if length == 0:
                break
    return _Digest(total, whole.hexdigest(), tuple(parts), multipart)


def _content_md5(digest: bytes) -> str:
    import base64

    return base64.b64encode(digest).decode()


def _holds(head: dict[str, Any], digest: _Digest) -> bool:
    """Whether an object already holds the file: same size and stored MD5 (and a plain ETag, if any, agrees)."""
    etag = _etag(head)
    return (
        int(head["ContentLength"]) == digest.size
        and head.get("Metadata", {}).get(MD5_METADATA_KEY) == digest.md5
        and (not _PLAIN_ETAG.match(etag) or etag == digest.md5)
    )


def _put_single(s3: Any, url: S3Url, source: Path, digest: _Digest) -> None:
    with open(source, "rb") as handle:
        reply = s3.put_object(Bucket=url.bucket, Key=url.key, Body=handle, ContentMD5=_content_md5(digest.parts[0].md5),
                              Metadata={MD5_METADATA_KEY: digest.md5})
    if _etag(reply) != digest.md5:
        raise TransientError(f"{url}: S3 stored ETag {_etag(reply)}, the file's MD5 is {digest.md5}")


def _unfinished_uploads(s3: Any, url: S3Url) -> list[dict[str, Any]]:
    """Unfinished multipart uploads of exactly this key, newest first."""
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=url.bucket, Prefix=url.key):
        found.extend(upload for upload in page.get("Uploads", []) if upload["Key"] == url.key)
    return sorted(found, key=lambda upload: upload["Initiated"], reverse=True)


def _uploaded_parts(s3: Any, url: S3Url, upload_id: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_parts").paginate(Bucket=url.bucket, Key=url.key, UploadId=upload_id):
        parts.extend(page.get("Parts", []))
    return parts


def _resumable(s3: Any, url: S3Url, digest: _Digest) -> tuple[str | None, dict[int, str], list[str]]:
    """An unfinished upload whose parts are all parts of this file (its id and part ETags), and the other ids."""
    chosen: str | None = None
    done: dict[int, str] = {}
    others: list[str] = []
    for upload in _unfinished_uploads(s3, url):
        parts = _uploaded_parts(s3, url, upload["UploadId"])
        matches = all(
            1 <= part["PartNumber"] <= len(digest.parts)
            and int(part["Size"]) == digest.parts[part["PartNumber"] - 1].length
            and _etag(part) == digest.parts[part["PartNumber"] - 1].hex
            for part in parts
        )
        if chosen is None and matches and parts:
            chosen, done = upload["UploadId"], {part["PartNumber"]: _etag(part) for part in parts}
        else:
            others.append(upload["UploadId"])
    return chosen, done, others


def _send_part(s3: Any, url: S3Url, upload_id: str, fd: int, part: _Part) -> str:
    data = os.pread(fd, part.length, part.offset)
    if len(data) != part.length or hashlib.md5(data, usedforsecurity=False).digest() != part.md5:
        raise InputError(url, None, f"the local file changed while it was being uploaded (part {part.number})")
    reply = s3.upload_part(Bucket=url.bucket, Key=url.key, UploadId=upload_id, PartNumber=part.number, Body=data,
                           ContentMD5=_content_md5(part.md5))
    if _etag(reply) != part.hex:
        raise TransientError(f"{url}: S3 stored part {part.number} with ETag {_etag(reply)}, its MD5 is {part.hex}")
    return part.hex


def _put_multipart(s3: Any, url: S3Url, source: Path, digest: _Digest, concurrency: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    upload_id, done, others = _resumable(s3, url, digest)
    if upload_id is None:
        upload_id = s3.create_multipart_upload(Bucket=url.bucket, Key=url.key,
                                               Metadata={MD5_METADATA_KEY: digest.md5})["UploadId"]
    else:
        log.info("%s: resuming an unfinished upload with %d of %d parts already sent", url, len(done),
                 len(digest.parts))
    missing = [part for part in digest.parts if part.number not in done]
    fd = os.open(source, os.O_RDONLY)
    try:
        with ThreadPoolExecutor(max_workers=min(concurrency, max(len(missing), 1))) as pool:
            sent = pool.map(lambda part: (part.number, _send_part(s3, url, upload_id, fd, part)), missing)
            done.update(sent)
    finally:
        os.close(fd)
    s3.complete_multipart_upload(
        Bucket=url.bucket, Key=url.key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": f'"{done[n]}"'} for n in sorted(done)]},
    )
    for other in others:  # a killed attempt's parts of some other content: stop paying for them
        with contextlib.suppress(Exception):
            s3.abort_multipart_upload(Bucket=url.bucket, Key=url.key, UploadId=other)


def _check_upload(s3: Any, url: S3Url, digest: _Digest) -> dict[str, Any]:
    """The object's head after an upload; ``TransientError`` unless it is exactly this file."""
    head = _head(s3, url)
    if int(head["ContentLength"]) != digest.size:
        raise TransientError(f"{url}: uploaded object has {head['ContentLength']} bytes, the file has {digest.size}")
    stored = head.get("Metadata", {}).get(MD5_METADATA_KEY)
    if stored != digest.md5 and _etag(head) == digest.etag:
        # a resumed upload another attempt started carries that attempt's metadata: rewrite it in place
        s3.copy_object(Bucket=url.bucket, Key=url.key, CopySource={"Bucket": url.bucket, "Key": url.key},
                       Metadata={MD5_METADATA_KEY: digest.md5}, MetadataDirective="REPLACE")
        head = _head(s3, url)
        stored = head.get("Metadata", {}).get(MD5_METADATA_KEY)
    if stored != digest.md5 or _etag(head) not in (digest.etag, digest.md5):
        raise TransientError(f"{url}: uploaded object's ETag {_etag(head)} / stored MD5 {stored} differ from the "
                             f"file's ({digest.etag}, {digest.md5})")
    return head


def _remember(url: S3Url, head: dict[str, Any]) -> dict[str, Any]:
    record = {"path": str(url), "size": int(head["ContentLength"]), "etag": _etag(head)}
    md5 = expected_md5(head)
    if md5:
        record["md5"] = md5
    _VERIFIED[str(url)] = record
    return record


def verified_output(path: str) -> dict[str, Any] | None:
    """What this process verified of an ``s3://`` object it uploaded or checked (path, size, etag, md5), else None."""
    return _VERIFIED.get(path)


def check_object(path: str, *, s3: Any | None = None) -> dict[str, Any]:
    """Head an ``s3://`` object something else wrote (e.g. a Kubernetes Job) and remember it like an upload."""
    url = _object_url(path)
    return _remember(url, _head(_s3(s3), url))


def upload(
    local_path: PathLike,
    remote_path: PathLike,
    *,
    s3: Any | None = None,
    transfer_config: Any | None = None,
    attempts: int = UPLOAD_ATTEMPTS,
    backoff: float = UPLOAD_BACKOFF,
) -> dict[str, Any] | None:
    """Copy a finished local file to ``remote_path`` and verify it (see the module doc); a local destination is an
    atomic copy. Returns the verified object's record (path, size, etag, md5) for ``s3://``, None for a local copy.
    """
    import random
    import time

    source = Path(local_path)
    if not source.is_file():
        raise InputError(source, None, "no such file to upload")
    if not is_remote(remote_path):
        target = Path(remote_path)
        if target.resolve() != source.resolve():
            with atomic_path(target) as temporary:
                shutil.copyfile(source, temporary)
        return None
    url = _object_url(str(remote_path))
    s3 = _s3(s3)
    threshold, chunk, concurrency = _transfer_settings(transfer_config)
    digest = _digest(source, threshold, chunk)
    with contextlib.suppress(_Missing):
        head = _head(s3, url)
        if _holds(head, digest):
            log.info("%s: already holds %s (%d bytes, md5 %s); not sent again", url, source, digest.size, digest.md5)
            return _remember(url, head)
    log.info("%s: uploading %d bytes from %s in %d part(s)", url, digest.size, source, len(digest.parts))
    for attempt in range(1, attempts + 1):
        try:
            with _mapped_errors(str(url), s3, missing="no such bucket"):
                if digest.multipart:
                    _put_multipart(s3, url, source, digest, concurrency)
                else:
                    _put_single(s3, url, source, digest)
                head = _check_upload(s3, url, digest)
            break
        except TransientError as exc:
            if attempt == attempts:
                raise
            delay = backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning("%s: upload attempt %d of %d failed (%s); retrying in %.1f s", url, attempt, attempts, exc,
                        delay)
            time.sleep(delay)
    log.info("%s: upload verified (%d bytes, md5 %s, etag %s)", url, digest.size, digest.md5, _etag(head))
    return _remember(url, head)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A private scratch directory in the job's scratch (``$_CONDOR_SCRATCH_DIR``, else ``$TMPDIR``), removed after."""
    import tempfile

    parent = os.environ.get("_CONDOR_SCRATCH_DIR") or os.environ.get("TMPDIR") or None
    with tempfile.TemporaryDirectory(prefix="aframe-scratch-", dir=parent) as directory:
        yield Path(directory)


@contextlib.contextmanager
def writable(path: PathLike, *, s3: Any | None = None) -> Iterator[Path]:
    """A local path to write ``path`` at: itself when local; for ``s3://``, a scratch file uploaded (and verified)
    when the block succeeds. A failed block uploads nothing."""
    if not is_remote(path):
        yield Path(path)
        return
    url = _object_url(str(path))
    with scratch() as directory:
        local = Path(directory, PurePosixPath(url.key).name)
        yield local
        upload(local, str(url), s3=s3)
