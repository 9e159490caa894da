"""One storage module for every path a node program reads or writes: a local path or ``s3://bucket/key``.

Read side (issue 9): ``local_copy`` gives a program a local file for any path. A local path comes back unchanged; an
``s3://`` object is downloaded to ``<scratch>/<bucket>/<key>``:

- to a hidden temporary next to that name, moved into place only after the integrity check (size, then MD5 against
  the ETag when it is a plain MD5, else against the ``x-amz-meta-md5`` that ``upload`` stores), so a killed or
  corrupt download never leaves a file that looks complete; a failed check is a ``TransientError`` (exit 1, retried);
- under an exclusive ``fcntl.flock`` on ``<local>.lock``, so two processes on one machine never fetch the same object
  at once: the second waits and then reuses the first one's copy;
- reused without a download when a complete copy is already there: its size matches and either the sidecar
  ``<local>.s3.json`` written after the last verified download still names the object's ETag and the file's
  size and mtime, or the file's MD5 matches the object's known MD5. Anything else (a truncated copy, a changed
  object) is downloaded again.

Write side (issue 12): ``upload`` sends a finished local file and verifies it; ``writable`` gives a node a local
file to write that is uploaded when its block succeeds (data nodes write ``s3://`` outputs this way, DESIGN §12):

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

Clients: ``client()`` builds one from the standard AWS configuration. Variables honoured (read by botocore itself):
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for a custom endpoint such as Nautilus or a test server,
``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``, ``AWS_PROFILE``, ``AWS_DEFAULT_REGION``. Node programs should get
credentials only as the *path* of a credentials file and a profile name (DESIGN §12); the key values are never logged
by this module, and ``describe_client`` reports only the endpoint, profile and file path.

Errors follow the node contract (``errors.py``) and issue 12: a malformed URL, a missing bucket or key, or missing
credentials raise ``InputError`` (exit 2, the message names the path); denied access (wrong keys, no permission),
connection failures, timeouts, throttling and server errors raise ``TransientError`` (exit 1, DAGMan retries; a
denial hints at the credentials file and profile, which an expired token or a policy being fixed can explain).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from executables.common.atomic import atomic_file, atomic_path
from executables.common.errors import InputError, TransientError

log = logging.getLogger(__name__)

SCHEME = "s3://"
MD5_METADATA_KEY = "md5"  # stored as x-amz-meta-md5 by ``upload``
_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")
_HASH_CHUNK = 8 * 1024 * 1024

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------------------------------------- paths


def is_remote(path: PathLike) -> bool:
    """True for ``s3://`` URLs; everything else is a local path."""
    return isinstance(path, str) and path.startswith(SCHEME)


@dataclass(frozen=True)
class S3Url:
    """A parsed ``s3://bucket/key``; ``key`` may be empty (the bucket itself) or end with ``/`` (a prefix)."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"


def parse_url(path: str) -> S3Url:
    """Split an ``s3://`` URL; a URL without a bucket name is an ``InputError``."""
    if not is_remote(path):
        raise InputError(path, None, "not an s3:// URL")
    bucket, _, key = path[len(SCHEME) :].partition("/")
    if not bucket or "/" in bucket or not re.fullmatch(r"[A-Za-z0-9._-]+", bucket):
        raise InputError(path, None, "malformed s3:// URL: expected s3://bucket/key")
    return S3Url(bucket, key)


class PathOrUrl(click.ParamType):
    """A click option value that is a local ``Path`` or an ``s3://`` URL kept as text (``Path`` would fold ``//``)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        text = os.fspath(value)
        if not is_remote(text):
            return Path(text)
        try:
            return str(_object_url(text))
        except InputError as exc:
            self.fail(exc.message if exc.path == text else str(exc), param, ctx)


def _object_url(path: str) -> S3Url:
    """An ``s3://`` URL that must name an object (a key that is neither empty nor a prefix)."""
    url = parse_url(path)
    if not url.key or url.key.endswith("/"):
        raise InputError(path, None, "malformed s3:// URL: expected s3://bucket/key naming an object")
    return url


def join(base: PathLike, *parts: str) -> str | Path:
    """Join path parts: ``s3://b/run`` + ``x/y.h5`` -> ``s3://b/run/x/y.h5`` (a ``str``); local -> a ``Path``."""
    if not is_remote(base):
        return Path(base, *parts)
    text = str(base).rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            text = f"{text}/{part}"
    return text


def _local_name(url: S3Url, scratch_dir: PathLike) -> Path:
    """``<scratch>/<bucket>/<key>``, refusing keys that would land outside the scratch directory."""
    pieces = PurePosixPath(url.key).parts
    if any(piece in ("..", ".") for piece in pieces) or url.key.startswith("/"):
        raise InputError(str(url), None, "key has '.' or '..' components; refusing to map it into scratch")
    return Path(scratch_dir, url.bucket, *pieces)


# ---------------------------------------------------------------------------------------------------------- client


def client(
    endpoint_url: str | None = None,
    profile: str | None = None,
    credentials_file: PathLike | None = None,
    *,
    region: str | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    max_attempts: int = 5,
) -> Any:
    """An S3 client from the standard AWS configuration.

    ``endpoint_url`` overrides ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``; ``profile`` overrides ``AWS_PROFILE``;
    ``credentials_file`` overrides ``AWS_SHARED_CREDENTIALS_FILE`` for this client only (the environment is not
    changed). ``max_attempts`` counts the first try (botocore's standard retry mode, backoff with jitter).
    """
    import boto3
    import botocore.config
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())  # parse botocore's service models once per process
    if credentials_file is not None:
        core.set_config_variable("credentials_file", os.fspath(credentials_file))
    config = botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if (endpoint_url or _env_endpoint()) else None,
    )
    try:
        session = boto3.Session(botocore_session=core, profile_name=profile, region_name=region)
        s3 = session.client("s3", endpoint_url=endpoint_url, config=config)
    except Exception as exc:  # ProfileNotFound, a malformed endpoint URL, a bad config file
        where = _safe_endpoint(endpoint_url) if endpoint_url else "s3"
        reason = str(exc).replace(endpoint_url, where) if endpoint_url else str(exc)  # no user:password in messages
        hint = _hint(None, profile, credentials_file)
        raise InputError(where, None, f"cannot build an S3 client: {reason}{hint}") from exc
    _ORIGINS[s3] = (profile, None if credentials_file is None else os.fspath(credentials_file))
    log.debug("S3 client: %s", describe_client(s3))
    return s3


@functools.cache
def _shared_loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


def _env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


# profile and credentials file each client was built with, for messages (never the keys themselves)
_ORIGINS: weakref.WeakKeyDictionary[Any, tuple[str | None, str | None]] = weakref.WeakKeyDictionary()


def _safe_endpoint(url: str) -> str:
    """An endpoint URL without any user:password part or query."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable: cut what could be a user:password part and keep the rest
        return re.sub(r"//[^/]*@", "//", url).split("?")[0]
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _origin(s3: Any | None, profile: str | None = None, credentials_file: PathLike | None = None) -> tuple[str, str]:
    if s3 is not None and s3 in _ORIGINS:
        profile, credentials_file = _ORIGINS[s3]
    profile = profile or os.environ.get("AWS_PROFILE") or "default"
    creds = credentials_file or os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return profile, os.fspath(creds)


def describe_client(s3: Any) -> str:
    """Endpoint (without any user:password part), profile and credentials-file path: safe to log, never a key."""
    profile, creds = _origin(s3)
    return f"endpoint {_safe_endpoint(s3.meta.endpoint_url)}, profile {profile!r}, credentials file {creds}"


@functools.cache
def default_client() -> Any:
    """The client built from the environment alone, shared by calls that pass no ``s3=``."""
    return client()


def _s3(s3: Any | None) -> Any:
    return default_client() if s3 is None else s3


def _hint(s3: Any | None, profile: str | None = None, credentials_file: PathLike | None = None) -> str:
    profile, creds = _origin(s3, profile, credentials_file)
    return (
        f" (check the credentials file {creds} and profile {profile!r}: AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)"
    )


_MISSING_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED_CODES = {
    "403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AccountProblem",
}


class _Missing(InputError):
    """A bucket or key that does not exist (exit 2 like any ``InputError``); ``exists`` turns it into False."""


def _translate(exc: BaseException, path: str, s3: Any, missing: str) -> Exception | None:
    """The node-contract error for a botocore/boto3 failure, or None when ``exc`` is none of theirs."""
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _MISSING_CODES or status == 404:
            return _Missing(path, None, missing)
        if code in _DENIED_CODES or status == 403:
            return TransientError(f"{path}: access denied ({code}){_hint(s3)}")
        if code in ("InvalidBucketName", "KeyTooLongError"):
            return InputError(path, None, f"malformed s3:// URL ({code})")
        return TransientError(f"{path}: S3 error {code or status}: {exc}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return InputError(path, None, f"no usable S3 credentials{_hint(s3)}")
    if isinstance(exc, (ConnectionError, HTTPClientError)):  # EndpointConnectionError, timeouts, closed connections
        return TransientError(f"{path}: cannot reach the S3 endpoint: {exc}")
    if isinstance(exc, (S3TransferFailedError, S3UploadFailedError)):
        # boto3 wraps the ClientError of a transfer in its own exception, keeping the original as the context
        inner = exc.__cause__ or exc.__context__
        mapped = _translate(inner, path, s3, missing) if inner is not None else None
        return mapped or TransientError(f"{path}: S3 transfer failed: {exc}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{path}: S3 client error: {exc}")
    return None


@contextlib.contextmanager
def _mapped_errors(path: str, s3: Any, *, missing: str = "no such object") -> Iterator[None]:
    """Translate botocore failures into the node contract's errors (see the module docstring)."""
    try:
        yield
    except Exception as exc:
        mapped = _translate(exc, path, s3, missing)
        if mapped is None:
            raise
        raise mapped from exc


def _head(s3: Any, url: S3Url) -> dict[str, Any]:
    with _mapped_errors(str(url), s3):
        return s3.head_object(Bucket=url.bucket, Key=url.key)


# -------------------------------------------------------------------------------------------------------- queries


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


# ---------------------------------------------------------------------------------------------------- checksums


def file_md5(path: PathLike) -> str:
    """Hex MD5 of a file, read in 8 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _etag(head: dict[str, Any]) -> str:
    return str(head.get("ETag", "")).strip('"')


def expected_md5(head: dict[str, Any]) -> str | None:
    """The object's whole-file MD5 if known: a plain (non-multipart) ETag, else the stored ``x-amz-meta-md5``."""
    etag = _etag(head)
    if _PLAIN_ETAG.match(etag):
        return etag
    stored = str(head.get("Metadata", {}).get(MD5_METADATA_KEY, "")).lower()
    return stored if _PLAIN_ETAG.match(stored) else None


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


# --------------------------------------------------------------------------------------------------------- reads


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


# -------------------------------------------------------------------------------------------------------- writes

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
