"""MD5s of files and what an S3 object's head says of its content (a plain ETag, or the MD5 ``upload`` stores)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from executables.common.storage.paths import PathLike

MD5_METADATA_KEY = "md5"  # stored as x-amz-meta-md5 by ``upload``
_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")
_HASH_CHUNK = 8 * 1024 * 1024


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


