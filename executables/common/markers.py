"""Done-markers: the JSON record a finished node leaves so the PRE script can skip it on a rerun.

The format is read by ``aframe-node-check`` with the standard library alone, so this module stays stdlib-only:

    {"finished": "2026-11-25T12:00:00Z", "hash": "<node hash>", "host": "<hostname>", "node": "<node name>",
     "outputs": [{"path": "/abs/file", "size": 123, "mtime_ns": 1764...0, "sha1": "<hex>"},
                 {"path": "/abs/dir", "size": 456, "files": 7, "mtime_ns": 1764...0, "sha1": "<hex>"}], ...extra}

Keys are sorted, the indent is 1 and the file ends with a newline. ``size`` is in bytes; for a directory it is the
total over the regular files below it and ``files`` counts them; ``mtime_ns`` is the newest modification time and
``sha1`` the content's digest, recorded for outputs up to ``aframe_dag.nodecheck.DIGEST_LIMIT`` bytes, so the PRE
script runs a node again whose output was corrupted or replaced. An ``s3://`` output is recorded as the storage
module verified it in this process after its upload (``{"path": "s3://b/k", "size": 123, "etag": ..., "md5": ...}``,
DESIGN §12): the node-check trusts that record, so a marker is never written for an object nobody verified.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aframe_dag.nodecheck import describe_output, read_done_marker
from executables.common.atomic import atomic_file

__all__ = ["write_done_marker", "read_done_marker"]

_RESERVED = frozenset({"finished", "hash", "host", "node", "outputs"})


def _describe_output(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Record an output's path, size and digest; a missing (or, on S3, unverified) output means the node has a bug."""
    if isinstance(path, str) and path.startswith("s3://"):
        from executables.common.storage import verified_output

        verified = verified_output(path)
        if verified is None:
            raise RuntimeError(f"{path}: the node returned this output but did not upload or check it")
        return dict(verified)
    described = describe_output(path)
    if described is None:
        raise RuntimeError(f"{Path(path).absolute()}: the node returned this output but it does not exist")
    return described


def write_done_marker(
    marker_path: str | os.PathLike[str],
    node: str,
    outputs: Iterable[str | os.PathLike[str]],
    node_hash: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Atomically write the marker for ``node`` and return what was written."""
    extra = dict(extra or {})
    clash = _RESERVED & extra.keys()
    if clash:
        raise ValueError(f"extra marker keys {sorted(clash)} would overwrite the marker's own fields")
    record = {
        **extra,
        "node": node,
        "hash": node_hash,
        "outputs": [_describe_output(output) for output in outputs],
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(),
    }
    with atomic_file(marker_path, "w") as handle:
        json.dump(record, handle, sort_keys=True, indent=1)
        handle.write("\n")
    return record
