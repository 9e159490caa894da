"""What `aframe-dag run` refuses before it starts anything: DAG features only DAGMan can run, and jobs it cannot
expand as HTCondor would (undefined macros, several jobs per node), and inputs only HTCondor's transfer plugins
fetch."""

from __future__ import annotations

from pathlib import Path

from ..condordir.descriptions import Descriptions, expand
from ..dagfile import PROVISIONER, SERVICE, SPLICE_SEPARATOR, SUBDAG, Dag, DagNode
from .macros import DAGMAN_SUBMIT_MACROS, JOB_ID_MACROS, undefined_macros, unknown_script_macros
from .transfer import described_transfer, refusal

NEEDS_DAGMAN = {SUBDAG: "SUBDAG EXTERNAL", SERVICE: "SERVICE", PROVISIONER: "PROVISIONER"}
GIVEN = DAGMAN_SUBMIT_MACROS + JOB_ID_MACROS


def _node_refusals(dag: Dag, node: DagNode) -> list[str]:
    where = f"{node.source or dag.path}:{node.line}"
    if SPLICE_SEPARATOR in node.name and node.name.rsplit(SPLICE_SEPARATOR, 1)[0] not in dag.splices:
        return [f"{where}: node name '{node.name}' contains '{SPLICE_SEPARATOR}' (DAGMan keeps it for splices)"]
    if node.kind in NEEDS_DAGMAN:
        return [f"{where}: {NEEDS_DAGMAN[node.kind]} {node.name}: only DAGMan runs it (condor_submit_dag)"]
    problems = []
    for kind, script in (("PRE", node.pre), ("POST", node.post)):
        if script is None:
            continue
        if script.defer is not None:
            problems.append(f"{dag.path}:{script.line}: SCRIPT DEFER ({kind} {node.name}): not supported here")
        for word in unknown_script_macros(script.arguments):
            problems.append(f"{dag.path}:{script.line}: SCRIPT {kind} {node.name}: DAGMan knows no macro {word}")
    return problems


def _job_refusals(dag: Dag, node: DagNode, descriptions: Descriptions, needed: dict) -> list[str]:
    """Undefined macros and multi-job clusters, each description examined once."""
    import htcondor2

    key = descriptions.key(node)
    if key not in needed:
        try:
            text = descriptions.text(node)
        except OSError as exc:
            return [f"node {node.name}: cannot read its submit file {key}: {exc.strerror}"]
        description = htcondor2.Submit(text)
        queue = description.getQArgs().strip()
        many = queue not in ("", "1")
        needed[key] = (undefined_macros(text, GIVEN), f"queue {queue}" if many else None,
                       "transfer_input_files" in description)
    macros, queue, stages = needed[key]
    problems = [f"node {node.name} ({key}): '{queue}' makes several jobs; the local executor runs one per node"] \
        if queue else []
    given = {name.lower() for name in node.variables}
    missing = [name for name in macros if name.lower() not in given]
    if missing:
        problems.append(f"node {node.name} ({key}): no value for " + ", ".join(f"$({name})" for name in missing)
                        + " (HTCondor would leave it empty): give it with VARS or in the submit file")
    elif stages and (why := _transfer_refusal(node, descriptions)):
        problems.append(f"node {node.name} ({key}): {why}")
    return problems


def _transfer_refusal(node: DagNode, descriptions: Descriptions) -> str | None:
    """Why the node's inputs cannot be staged here, with its VARS expanded (DAGMan's own macros do not name files)."""
    description = descriptions.describe(node, {"JOB": node.name})
    transfer = described_transfer(lambda key, default=None: expand(description, key, default))
    return refusal(transfer) if transfer else None


def refusals(dag: Dag, dag_dir: Path) -> list[str]:
    """Everything that keeps the local executor from running this DAG as DAGMan would, one line each."""
    problems = []
    if dag.rejected is not None:
        problems.append(f"{dag.path}:{dag.rejected}: REJECT: the DAG is marked not to be run (DAGMan refuses it too)")
    finals = [node.name for node in dag.nodes.values() if node.final]
    if len(finals) > 1:
        problems.append(f"{dag.path}: more than one FINAL node ({', '.join(finals)})")
    descriptions, needed = Descriptions(dag_dir), {}
    for node in dag.nodes.values():
        found = _node_refusals(dag, node)
        if not found and not node.noop and not node.done:
            found = _job_refusals(dag, node, descriptions, needed)
        problems += found
    return problems
