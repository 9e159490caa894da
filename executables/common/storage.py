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

Write side (completed in issue 12): ``upload`` sends a local file (multipart above the transfer threshold), stores its
MD5 as object metadata and verifies size and checksums with ``head_object`` afterwards. S3 makes an object visible only
when its PUT or multipart upload completes, so a reader never sees a half-written object.

Clients: ``client()`` builds one from the standard AWS configuration. Variables honoured (read by botocore itself):
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for a custom endpoint such as Nautilus or a test server,
``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``, ``AWS_PROFILE``, ``AWS_DEFAULT_REGION``. Node programs should get
credentials only as the *path* of a credentials file and a profile name (DESIGN §12); the key values are never logged
by this module, and ``describe_client`` reports only the endpoint, profile and file path.

Errors follow the node contract (``errors.py``): a malformed URL, a missing bucket or key, denied access or missing
credentials raise ``InputError`` (exit 2, the message names the path and, for access problems, hints at the
credentials file and profile); connection failures, timeouts, throttling and server errors raise ``TransientError``
(exit 1, DAGMan retries).
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
        retries={"max_attempts": max_attempts, "mode": "standard"},
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
            return InputError(path, None, f"access denied ({code}){_hint(s3)}")
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


def upload(
    local_path: PathLike, remote_path: PathLike, *, s3: Any | None = None, transfer_config: Any | None = None
) -> None:
    """Copy a finished local file to ``remote_path`` and verify it; a local destination is an atomic copy.

    The object carries ``x-amz-meta-md5`` (the whole-file MD5), so readers can check multipart objects too. After
    the upload, ``head_object`` must report the same size, the same stored MD5 and, for a plain ETag, that MD5;
    otherwise ``TransientError`` (the node is retried and uploads again).
    """
    source = Path(local_path)
    if not source.is_file():
        raise InputError(source, None, "no such file to upload")
    if not is_remote(remote_path):
        target = Path(remote_path)
        if target.resolve() != source.resolve():
            with atomic_path(target) as temporary:
                shutil.copyfile(source, temporary)
        return
    url = _object_url(str(remote_path))
    s3 = _s3(s3)
    md5 = file_md5(source)
    want = source.stat().st_size
    log.info("%s: uploading %d bytes from %s", url, want, source)
    with _mapped_errors(str(url), s3, missing="no such bucket"):
        s3.upload_file(
            str(source), url.bucket, url.key, ExtraArgs={"Metadata": {MD5_METADATA_KEY: md5}}, Config=transfer_config
        )
    head = _head(s3, url)
    if int(head["ContentLength"]) != want:
        raise TransientError(f"{url}: uploaded object has {head['ContentLength']} bytes, the file has {want}")
    stored = head.get("Metadata", {}).get(MD5_METADATA_KEY)
    if expected_md5(head) != md5 or stored != md5:
        raise TransientError(f"{url}: uploaded object's MD5/ETag {expected_md5(head)} differs from the file's {md5}")
    log.info("%s: upload verified (%d bytes, md5 %s)", url, want, md5)
