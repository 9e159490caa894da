"""The POST script of a file-transfer node: its outputs came back to the access point; make them its done-marker.

Standard library only (it runs on the access point after every job). A job without a shared filesystem writes its
outputs and its done-marker in its sandbox (``sandbox.OUT_DIR``), and HTCondor's ``transfer_output_remaps`` put them
back: each output at its run-directory path, the marker beside the real one (``names.landed_marker_name``). Here the
marker's record is checked against what landed (size and, up to ``nodecheck.DIGEST_LIMIT``, the SHA-1 the node took
in its sandbox) and, when every output came back as the node wrote it, it becomes the node's done-marker with the
access point's paths, so the PRE script and `status` read it as any other. Otherwise the node fails (exit 1: DAGMan
retries it) and no marker is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .names import landed_marker_name, marker_path
from .nodecheck import describe_output, output_changed, read_done_marker, temporary_name
from .sandbox import OUT_DIR, input_name


class NotLanded(Exception):
    """Why a finished job's outputs cannot become its done-marker."""


def access_point_path(sandbox_path: str, roots: dict[str, str]) -> str:
    """Where an output the node wrote in its sandbox landed: ``.../aframe-out/NAME/rest`` -> ``roots[NAME]/rest``."""
    _, found, below = sandbox_path.partition(f"/{OUT_DIR}/")
    name, _, rest = below.partition("/")
    if not found or name not in roots:
        raise NotLanded(f"its marker records {sandbox_path}, which no transfer_output_remaps brings back (an "
                        "output its node does not declare in the plan)")
    return f"{roots[name]}/{rest}" if rest else roots[name]


def _landed_output(recorded: dict[str, Any], roots: dict[str, str]) -> dict[str, Any]:
    """The record of one output at its access-point path, once it is what the node wrote."""
    if str(recorded.get("path", "")).startswith("s3://"):
        return recorded
    here = {**recorded, "path": access_point_path(str(recorded.get("path", "")), roots)}
    here.pop("mtime_ns", None)  # HTCondor does not keep modification times: content and size decide
    changed = output_changed(here, content=True)
    if changed is not None:
        raise NotLanded(f"its output came back different from what the node wrote: {changed}")
    here["mtime_ns"] = describe_output(here["path"], digest=False)["mtime_ns"]
    return here


def _write(path: Path, record: dict[str, Any]) -> None:
    """Write the marker whole or not at all (the format of executables/common/markers.py)."""
    temporary = path.with_name(temporary_name(path.name))
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle, sort_keys=True, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def land(condor_dir, node: str, node_hash: str, returned: int, roots: list[str]) -> str:
    """Turn the landed marker into the node's done-marker; ``roots`` are the access-point paths of the outputs (or
    of the directories holding them) that the remaps bring back. Raises NotLanded when they cannot be trusted."""
    landed = Path(condor_dir) / landed_marker_name(node)
    record = read_done_marker(landed)
    landed.unlink(missing_ok=True)
    if returned != 0:
        raise NotLanded(f"its job exited {returned}")
    if record is None:
        raise NotLanded(f"its job exited 0 but its done-marker did not come back to {landed}")
    if record.get("hash") != node_hash:
        raise NotLanded(f"the marker that came back is for hash {record.get('hash')}, expected {node_hash}")
    by_name = {input_name(root): root for root in roots}
    outputs = [_landed_output(output, by_name) for output in record.get("outputs", [])]
    _write(marker_path(condor_dir, node), {**record, "outputs": outputs})
    return f"{len(outputs)} output(s) came back as the node wrote them"
