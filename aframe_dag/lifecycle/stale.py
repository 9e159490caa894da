"""Stale rescue entries: nodes a rescue file marks DONE that their done-markers no longer show done (DESIGN §12).

DAGMan never runs a node its rescue file marks DONE, not even its PRE script, so a DONE line outlives the node's
outputs: after a config edit changes the node's hash, or after its marker or outputs are removed, resubmitting would
skip it and feed its children stale or missing files. `build --force`, `resubmit` and `run` refuse such a rescue file
and name the `aframe-dag invalidate` command that fixes it.
"""

from __future__ import annotations

from pathlib import Path

from ..dagfile import Dag, rescue_done, rescue_files
from ..names import DAG_FILE
from ..nodecheck import why_not_done

SHOWN = 10


def planned_hash(dag: Dag, node: str) -> str | None:
    """The node hash the DAG hands the node's PRE script (None for a node without one, such as FINAL)."""
    pre = dag.nodes[node].pre
    if pre is None or Path(pre.executable).name != "aframe-node-check" or len(pre.arguments) != 3:
        return None
    return pre.arguments[2]


def descendants(dag: Dag, roots) -> list[str]:
    """Every node below `roots` (not the roots themselves), in DAG order."""
    children, seen, stack = dag.children(), set(), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return [name for name in dag.nodes if name in seen and name not in set(roots)]


def stale_entries(condor_dir, dag: Dag, rescue) -> dict[str, str]:
    """{node: why it is not done} for each node `rescue` marks DONE that `dag` would run again (DAG order)."""
    done = rescue_done(rescue)
    stale = {}
    for node in dag.nodes:
        expected = planned_hash(dag, node) if node in done else None
        reason = why_not_done(condor_dir, node, expected) if expected is not None else None
        if reason is not None:
            stale[node] = reason
    return stale


def invalidate_command(condor_dir, dag: Dag, stale: dict[str, str], done: set[str]) -> str:
    """The shortest `aframe-dag invalidate` line that removes exactly what matters: the topmost stale nodes with
    --downstream when every node below them is stale or not done anyway, else every stale node by name."""
    roots = [node for node in stale if not any(parent in stale for parent in _ancestors(dag, node))]
    below = descendants(dag, roots)

    def harmless(node: str) -> bool:
        if node in stale or dag.nodes[node].final:
            return True
        expected = planned_hash(dag, node)
        return node not in done and (expected is None or why_not_done(condor_dir, node, expected) is not None)

    if below and all(harmless(node) for node in below):
        return f"aframe-dag invalidate {' '.join(roots)} --downstream {condor_dir}"
    return f"aframe-dag invalidate {' '.join(stale)} {condor_dir}"


def _ancestors(dag: Dag, node: str) -> set[str]:
    seen, stack = set(), [node]
    while stack:
        for parent in dag.parents.get(stack.pop(), []):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def stale_refusal(condor_dir, dag: Dag, rescue=None, then: str = "resubmit") -> str | None:
    """Why a rescue file (default: the newest) must not be used with `dag`, with the command that fixes it; or None."""
    condor_dir = Path(condor_dir)
    if rescue is None:
        rescues = rescue_files(condor_dir / DAG_FILE)
        if not rescues:
            return None
        rescue = rescues[-1]
    stale = stale_entries(condor_dir, dag, rescue)
    if not stale:
        return None
    shown = "; ".join(f"{node}: {reason}" for node, reason in list(stale.items())[:SHOWN])
    more = f"; and {len(stale) - SHOWN} more" if len(stale) > SHOWN else ""
    command = invalidate_command(condor_dir, dag, stale, rescue_done(rescue))
    return (f"{Path(rescue).name} marks {len(stale)} node(s) DONE that are no longer done ({shown}{more}); "
            f"DAGMan would skip them and their children would read stale or missing files. Nothing changed. "
            f"Run `{command}`, then {then} again")
