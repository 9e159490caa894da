"""The files status reads besides the logs: run.ini.resolved, DAGMan's node status file, the done-markers, and
what ran the DAG last."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

from ..condordir.dag import dag_path
from ..condordir.running import dagman_file
from ..dagfile import Dag
from ..names import DAG_FILE, DAGMAN_OUT, LOCAL_LOCK, RESOLVED, marker_path
from ..nodecheck import read_done_marker, why_not_done
from .model import where_of

# DAGMan's node status codes (NODE_STATUS_FILE NodeStatus, and DagStatus for the whole DAG)
NODE_STATUS = {0: "not-ready", 1: "ready", 2: "pre", 3: "submitted", 4: "post", 5: "done", 6: "failed", 7: "futile"}
DAG_STATUS = {0: "not-started", 1: "running", 2: "running", 3: "running", 4: "running", 5: "done", 6: "failed",
              7: "failed"}


def run_name(condor_dir) -> str | None:
    """The run's name (its DAG's batch name) from run.ini.resolved, or None when there is none."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(Path(condor_dir) / RESOLVED, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    return parser.get("run", "name", fallback=None) or None


def in_condor_dir(condor_dir: Path, name: str | None, default: str) -> Path:
    """A file the DAG names (absolute, or relative to the DAG's dir); a moved condor dir falls back to its own copy."""
    if not name:
        return condor_dir / default
    path = Path(name) if Path(name).is_absolute() else condor_dir / name
    return path if path.exists() or not (condor_dir / path.name).exists() else condor_dir / path.name


def read_status_file(path) -> tuple[dict, dict[str, dict], dict] | None:
    """The node status file as (DagStatus ad, {node: NodeStatus ad}, StatusEnd ad); None when absent/unreadable."""
    import classad2

    try:
        text = Path(path).read_text()
        ads = [dict(ad.items()) for ad in classad2.parseAds(text)]
    except (OSError, ValueError, RuntimeError):
        return None
    dag = next((ad for ad in ads if ad.get("Type") == "DagStatus"), {})
    end = next((ad for ad in ads if ad.get("Type") == "StatusEnd"), {})
    nodes = {ad["Node"]: ad for ad in ads if ad.get("Type") == "NodeStatus" and "Node" in ad}
    if not dag and not nodes:
        return None
    return dag, nodes, end


def _node_hash(dag: Dag, node: str) -> str | None:
    words = shlex.split(dag.nodes[node].variables.get("nodeargs", ""))
    return words[words.index("--node-hash") + 1] if "--node-hash" in words[:-1] else None


def valid_marker(condor_dir, dag: Dag, node: str) -> dict[str, Any] | None:
    """A node's done-marker when it shows the node done: the PRE script's test when the DAG gives a hash, with the
    outputs' sizes and modification times standing in for their digests (status looks at every node)."""
    marker = read_done_marker(marker_path(condor_dir, node))
    if marker is None:
        return None
    expected = _node_hash(dag, node)
    if expected is not None and why_not_done(condor_dir, node, expected, content=False) is not None:
        return None
    return marker


def changed_output(condor_dir, dag: Dag, node: str, content: bool = False) -> str | None:
    """Why a finished node runs again because an output of it changed since (None when none did)."""
    expected = _node_hash(dag, node)
    reason = why_not_done(condor_dir, node, expected, content) if expected is not None else None
    return reason if reason is not None and reason.startswith("its output") else None


def continue_command(place) -> str:
    """The command that continues a stopped run: the local executor's for a run it last ran, else resubmission
    (`condor_submit_dag` for a DAG that `build` did not write; DAGMan takes its newest rescue file by itself)."""
    dag = dag_path(place)
    local, dagman = dag.parent / LOCAL_LOCK, dagman_file(dag, DAGMAN_OUT)
    if local.exists() and (not dagman.exists() or local.stat().st_mtime >= dagman.stat().st_mtime):
        return f"aframe-dag run {where_of(dag)}"
    return f"aframe-dag resubmit {dag.parent}" if dag.name == DAG_FILE else f"condor_submit_dag {dag}"
