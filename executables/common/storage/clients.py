"""S3 clients from the standard AWS configuration, and their failures in the node contract's terms.

Clients: ``client()`` builds one from the standard AWS configuration. Variables honoured (read by botocore itself):
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for a custom endpoint such as Nautilus or a test server,
``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``, ``AWS_PROFILE``, ``AWS_DEFAULT_REGION``. Node programs should get
credentials only as the *path* of a credentials file and a profile name (DESIGN §12); the key values are never logged
by this package, and ``describe_client`` reports only the endpoint, profile and file path.

Errors follow the node contract (``errors.py``) and issue 12: a malformed URL, a missing bucket or key, or missing
credentials raise ``InputError`` (exit 2, the message names the path); denied access (wrong keys, no permission),
connection failures, timeouts, throttling and server errors raise ``TransientError`` (exit 1, DAGMan retries; a
denial hints at the credentials file and profile, which an expired token or a policy being fixed can explain).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import weakref
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from executables.common.errors import InputError, TransientError
from executables.common.storage.paths import PathLike, S3Url

log = logging.getLogger(__name__)


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
