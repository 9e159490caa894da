"""`aframe-node-check`: the PRE script that lets DAGMan skip a node whose outputs are already done.

Standard library only: it runs on the access point for every node. It exits 99 (the DAG's PRE_SKIP code)
when the node's done-marker records the expected node hash and every output is still there with its
recorded size; otherwise 0, and the node runs. An s3:// output is trusted from its marker, which the node
writes only after verifying the upload.

It is also where both layers read the name of an output's temporary, `.NAME.tmp-PID-RANDOM`: node programs write
each output under one (executables/common/atomic.py) and `aframe-dag clean --scratch` lists those killed writers
left behind.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

SKIP = 99
RUN = 0

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")


def marker_path(condor_dir, node: str) -> Path:
    """Where a node's done-marker lives."""
    return Path(condor_dir) / "done" / f"{node}.json"


def describe_output(path) -> dict[str, Any] | None:
    """An output's path and size in bytes (a directory: total and file count); None when it is missing."""
    output = Path(path).absolute()
    if output.is_file():
        return {"path": str(output), "size": output.stat().st_size}
    if output.is_dir():
        sizes = [Path(top, name).stat().st_size for top, _, names in os.walk(output) for name in names
                 if Path(top, name).is_file()]
        return {"path": str(output), "size": sum(sizes), "files": len(sizes)}
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


def why_not_done(condor_dir, node: str, node_hash: str) -> str | None:
    """None when the node is done; otherwise the reason it must run."""
    marker = read_done_marker(marker_path(condor_dir, node))
    if marker is None:
        return "no done-marker"
    if marker.get("hash") != node_hash:
        return f"its inputs or arguments changed (marker hash {marker.get('hash')}, expected {node_hash})"
    for output in marker.get("outputs", []):
        if str(output.get("path", "")).startswith("s3://"):
            continue
        now = describe_output(output.get("path", ""))
        if now is None:
            return f"{output.get('path')} is missing"
        if now != output:
            return f"{output['path']} changed since the node finished"
    return None


def main(argv: list[str] | None = None) -> None:
    """PRE script entry point: `aframe-node-check CONDOR_DIR NODE HASH`; exit 99 = done, skip it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: aframe-node-check CONDOR_DIR NODE HASH", file=sys.stderr)
        sys.exit(2)
    reason = why_not_done(*args)
    print(f"{args[1]}: " + ("done, skipping" if reason is None else f"runs: {reason}"), file=sys.stderr)
    sys.exit(SKIP if reason is None else RUN)
