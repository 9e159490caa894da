"""A built condor dir as the commands after `build` see it: its DAG and what the DAG says of each node."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..dagfile import Dag, DagSyntaxError, read_dag
from ..errors import UserError
from ..names import DAG_FILE


def dag_path(place) -> Path:
    """The DAG a command means: a DAG file as given, or in a directory its aframe.dag (else its only *.dag)."""
    place = Path(place)
    if not place.is_dir():
        return place
    if (place / DAG_FILE).exists():
        return place / DAG_FILE
    found = [path for path in sorted(place.glob("*.dag")) if path.is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"{place}: more than one DAG here ({', '.join(p.name for p in found)}): name the one you mean")
    return place / DAG_FILE


def load_dag(place) -> Dag:
    """The parsed DAG of a condor dir (or a DAG file); a missing or broken one is the user's error, named."""
    path = dag_path(place)
    try:
        return read_dag(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no DAG here (build one with `aframe-dag build RUN.ini`)") from None
    except (OSError, DagSyntaxError) as exc:
        raise UserError(str(exc)) from None


def node_arguments(dag: Dag, node: str) -> list[str]:
    """A node's program arguments, from its VARS nodeargs (HTCondor's quoting: spaces inside '...')."""
    if node not in dag.nodes:
        raise UserError(f"{dag.path}: no node '{node}'")
    return shlex.split(dag.nodes[node].variables.get("nodeargs", ""))


def node_hash_in_dag(condor_dir, node: str) -> str:
    """The hash the DAG gives a node's PRE script."""
    arguments = node_arguments(load_dag(condor_dir), node)
    if "--node-hash" not in arguments:
        raise UserError(f"node '{node}' has no --node-hash (the FINAL node always runs)")
    return arguments[arguments.index("--node-hash") + 1]
