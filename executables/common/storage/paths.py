"""Paths a node program is given: a local path or an ``s3://bucket/key`` URL, told apart, parsed and joined."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import click

from executables.common.errors import InputError

SCHEME = "s3://"

PathLike = str | os.PathLike[str]


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
