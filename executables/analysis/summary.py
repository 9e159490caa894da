"""`aframe-summary`, the FINAL node: what every node did, and a failure when the DAG failed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from aframe_dag.dagfile import read_dag
from aframe_dag.nodecheck import marker_path, read_done_marker
from executables.common.atomic import atomic_file
from executables.common.cli import node_options
from executables.common.errors import InputError, TransientError

log = logging.getLogger("aframe-summary")


def summarize(condor_dir: Path, dag_status: int, failed_count: int) -> dict:
    """Per-node and per-stage state from the DAG and the done-markers."""
    dag_path = condor_dir / "aframe.dag"
    try:
        dag = read_dag(dag_path)
    except (OSError, ValueError) as exc:
        raise InputError(dag_path, None, f"cannot read the DAG: {exc}") from None
    nodes, stages = {}, {}
    for node in dag.nodes.values():
        if node.final:
            continue
        marker = read_done_marker(marker_path(condor_dir, node.name))
        nodes[node.name] = {"done": marker is not None, "finished": (marker or {}).get("finished")}
        counts = stages.setdefault(Path(node.submit).stem, {"done": 0, "total": 0})
        counts["total"] += 1
        counts["done"] += marker is not None
    return {"dag_status": dag_status, "failed_count": failed_count, "stages": stages, "nodes": nodes}


@click.command()
@node_options
@click.option("--condor-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The run's condor dir (aframe.dag, done/).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write summary.json.")
@click.option("--dag-status", type=int, required=True, help="DAGMan's $(DAG_STATUS): 0 when every node succeeded.")
@click.option("--failed-count", type=int, required=True, help="DAGMan's $(FAILED_COUNT).")
def main(condor_dir: Path, output: Path, dag_status: int, failed_count: int) -> list[Path]:
    """Write summary.json and log a table per stage; fail (exit 1) when the DAG failed, so DAGMan reports it."""
    summary = summarize(condor_dir, dag_status, failed_count)
    for stage, counts in summary["stages"].items():
        log.info("%-14s %5d / %-5d done", stage, counts["done"], counts["total"])
    with atomic_file(output, "w") as handle:
        json.dump(summary, handle, indent=1, sort_keys=True)
        handle.write("\n")
    if dag_status != 0:
        raise TransientError(f"the DAG failed (DAG_STATUS {dag_status}, {failed_count} failed nodes); "
                             "see `aframe-dag status` and `aframe-dag why NODE`")
    log.info("every node succeeded; summary in %s", output)
    return [output]
