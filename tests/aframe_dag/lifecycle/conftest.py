"""Runs to invalidate, stop and clean: the micro build with its nodes marked finished as a node marks itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from aframe_dag.builder.build import build
from executables.common.markers import write_done_marker

NO_SCHEDD = {"CONDOR_CONFIG": "ONLY_ENV"}  # an HTCondor configuration that names no pool: no live schedd query


def mark_finished(workflow, condor: Path, nodes=None) -> None:
    """Write each chosen node's outputs (its name as content) and then its done-marker; default: every node."""
    for node in workflow.nodes:
        if node.final or (nodes is not None and node.name not in nodes):
            continue
        for output in map(Path, node.outputs):
            target = output if output.suffix else output / "1" / "model.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"{node.name}\n" * 64)
        write_done_marker(condor / "done" / f"{node.name}.json", node.name, node.outputs, node.hash)


def rescue(condor: Path, number: int, done, extra: str = "") -> Path:
    """A rescue file as DAGMan writes one (header comments, RETRY and DONE lines)."""
    path = condor / f"aframe.dag.rescue{number:03d}"
    lines = ["# Rescue DAG file, created after running", "#   the aframe.dag DAG file", "#",
             "# Rescue DAG version: 2.0.1 (partial)", ""]
    path.write_text("\n".join(lines + [f"DONE {name}" for name in done]) + "\n" + extra)
    return path


@pytest.fixture
def micro_run(micro_ini, run_env, monkeypatch):
    """The micro run built (site local), every node but sv finished, and DAGMan's rescue file of the failed sv."""
    for key, value in NO_SCHEDD.items():
        monkeypatch.setenv(key, value)
    result = build(micro_ini)
    condor = result.condor_dir
    mark_finished(result.workflow, condor, {n.name for n in result.workflow.nodes} - {"sv"})
    rescue(condor, 1, [n.name for n in result.workflow.nodes if n.name not in ("sv", "summary")],
           "DONE _condor_join_node1\nRETRY sv 1 UNLESS-EXIT 2\n")
    return result


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under directory with its bytes (to show that nothing changed)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
