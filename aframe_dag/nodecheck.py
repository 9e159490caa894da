"""The PRE script's test (`aframe-node-check`, prepost.py): may DAGMan skip a node whose outputs are already done?

Standard library only: it runs on the access point for every node. It exits 99 (the DAG's PRE_SKIP code)
when the node's done-marker records the expected node hash and every output is still what the node left: the same
size and, for outputs up to ``DIGEST_LIMIT``, the same SHA-1 of their content; a larger output must keep its size and
modification time, and the HDF5 checksums every dataset carries guard its bytes where a node reads them. Otherwise it
exits 0 and the node runs. An s3:// output is trusted from its marker, which the node writes only after verifying
the upload (its ETag and MD5 are that output's digest).

It is also where both layers read the name of an output's temporary, `.NAME.tmp-PID-RANDOM`: node programs write
each output under one (executables/common/atomic.py) and `aframe-dag clean --scratch` lists those killed writers
left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from .names import marker_path

SKIP = 99
RUN = 0
#: Outputs up to this many bytes are checked by content on every check (SHA-1: about 1.5 GB/s on one core).
DIGEST_LIMIT = 256 * 2**20
_BLOCK = 2**20

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")


def _files(output: Path) -> list[Path]:
    """The regular files below a directory output, in a fixed order."""
    return sorted(Path(top, name) for top, _, names in os.walk(output) for name in names if Path(top, name).is_file())


def describe_output(path, digest: bool = True) -> dict[str, Any] | None:
    """What the done-marker records of an output: path, size, newest modification time and (``digest``), up to
    ``DIGEST_LIMIT`` bytes, the SHA-1 of its content (a directory: of its files' names and contents); a directory
    also counts its files. None when it is missing."""
    output = Path(path).absolute()
    if output.is_file():
        files = [output]
    elif output.is_dir():
        files = _files(output)
    else:
        return None
    stats = [file.stat() for file in files]
    described: dict[str, Any] = {"path": str(output), "size": sum(stat.st_size for stat in stats),
                                 "mtime_ns": max((stat.st_mtime_ns for stat in stats), default=0)}
    if output.is_dir():
        described["files"] = len(files)
    if digest and described["size"] <= DIGEST_LIMIT:
        sha1 = hashlib.sha1(usedforsecurity=False)
        for file in files:
            if output.is_dir():
                sha1.update(str(file.relative_to(output)).encode() + b"\0")
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    sha1.update(block)
        described["sha1"] = sha1.hexdigest()
    return described


def output_changed(recorded: dict[str, Any], content: bool = True) -> str | None:
    """How a local output differs from its marker's record, in words; None when it is as the node left it.

    With ``content`` (the PRE script) a recorded SHA-1 decides; without it (``status``, which looks at every node)
    size and modification time do. A record that lacks a field (older markers) is checked on what it has.
    """
    path = str(recorded.get("path", ""))
    now = describe_output(path, digest=content)
    if now is None:
        return f"{path} is missing"
    for key, words in (("size", "bytes"), ("files", "files")):
        if key in recorded and recorded[key] != now.get(key):
            return f"{path} changed since the node finished ({recorded[key]} {words} then, {now.get(key)} now)"
    if content and "sha1" in recorded:
        if recorded["sha1"] != now.get("sha1"):
            return f"{path} changed since the node finished (its content is not what the node wrote)"
        return None
    if "mtime_ns" in recorded and recorded["mtime_ns"] != now["mtime_ns"]:
        return f"{path} changed since the node finished (modified after the node wrote it)"
    return None


def temporary_name(name: str) -> str:
    """A fresh hidden name for writing the output ``name``, tagged with this process's id so a leftover can be
    told from a temporary still being written."""
    return f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def temporary_of(name: str) -> tuple[str, int] | None:
    """The output name and writer PID a temporary's name carries; None for any other name."""
    match = _TEMPORARY.match(name)
    return None if match is None else (match["name"], int(match["pid"]))


def process_running(pid: int) -> bool:
    """Whether ``pid`` runs on this host: the temporary of a running writer is never removed."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_done_marker(path) -> dict[str, Any] | None:
    """A marker's record, or None when there is none or it cannot be read (the node is then not done)."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def why_not_done(condor_dir, node: str, node_hash: str, content: bool = True) -> str | None:
    """None when the node is done; otherwise the reason it must run (``content``: see ``output_changed``)."""
    marker = read_done_marker(marker_path(condor_dir, node))
    if marker is None:
        return "no done-marker"
    if marker.get("hash") != node_hash:
        return f"its inputs or arguments changed (marker hash {marker.get('hash')}, expected {node_hash})"
    for output in marker.get("outputs", []):
        if str(output.get("path", "")).startswith("s3://"):
            continue
        changed = output_changed(output, content)
        if changed is not None:
            return f"its output {changed}"
    return None
