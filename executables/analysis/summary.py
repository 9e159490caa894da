"""`aframe-summary`, the FINAL node: what every node did and what the run found (summary.json, report.html, the
zero-lag table when unblinded), written even after a failure, which it then reports by failing itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from executables.analysis import report
from executables.analysis.datasource import DataSource
from executables.analysis.results import read_results, write_zero_lag_csv
from executables.analysis.runstate import RunState
from executables.common.atomic import atomic_file
from executables.common.cli import node_options
from executables.common.errors import TransientError

log = logging.getLogger("aframe-summary")

REPORT = "report.html"
ZERO_LAG_TABLE = "zero-lag.csv"


def summarize(state: RunState, results, data: DataSource, dag_status: int, failed_count: int, unblind: bool,
              written: dict[str, str | None]) -> dict:
    """summary.json's content: the run's state, its nodes and stages, the background's source, whether the
    matched-filter reference ran, the headline numbers, what is missing."""
    zero_lag = {"count": len(results.zero_lag) if results.zero_lag is not None else None, "blinded": not unblind,
                "table": written.get("zero_lag")}
    return {"dag_status": dag_status, "failed_count": failed_count, "name": state.status.name,
            "stages": state.stages(), "nodes": state.node_records(),
            "problems": [{key: value for key, value in problem.items() if key != "why"}
                         for problem in state.problems],
            "background": data.record(), "reference": results.reference is not None,
            "headline": results.headline(), "zero_lag": zero_lag,
            "missing": report.describe(results, state), "report": written.get("report")}


@click.command()
@node_options
@click.option("--condor-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The run's condor dir (aframe.dag, node status file, nodes.log, logs/, done/, run.ini.resolved).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The results dir: event sets, sensitive volume; zero-lag.csv is written here when unblinded.")
@click.option("--train-run-dir", required=True, help="The train run dir (local or s3://): training.png, metrics.csv.")
@click.option("--injections", required=True, help="The accepted test injections (injections.hdf5).")
@click.option("--unblind", is_flag=True, help="Show the zero-lag candidates (else only their number).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write summary.json; report.html goes beside it.")
@click.option("--dag-status", type=int, required=True, help="DAGMan's $(DAG_STATUS): 0 when every node succeeded.")
@click.option("--failed-count", type=int, required=True, help="DAGMan's $(FAILED_COUNT).")
def main(condor_dir: Path, results_dir: Path, train_run_dir: str, injections: str, unblind: bool, output: Path,
         dag_status: int, failed_count: int) -> list[Path]:
    """Write the zero-lag table (unblinded), report.html and summary.json; fail (exit 1) when the DAG failed."""
    state = RunState.read(condor_dir)
    data = DataSource.read(condor_dir)
    results = read_results(results_dir, train_run_dir, injections, state.producer)
    for problem in results.problems:
        log.warning("%s: %s (%s)", problem.what, problem.reason, problem.path)
    written: list[Path] = []
    table = None
    if not unblind and (results_dir / ZERO_LAG_TABLE).exists():
        log.warning("%s is left from an unblinded summary: remove it to keep the results blinded",
                    results_dir / ZERO_LAG_TABLE)
    if unblind and results.zero_lag is not None:
        table = results_dir / ZERO_LAG_TABLE
        with atomic_file(table, "w") as handle:
            write_zero_lag_csv(results.zero_lag_table(), handle)
        written.append(table)
    page = output.with_name(REPORT)
    with atomic_file(page, "w") as handle:
        handle.write(report.render(state, results, data, dag_status=dag_status, failed_count=failed_count,
                                   unblind=unblind, zero_lag_table=str(table) if table else None))
    written.append(page)
    summary = summarize(state, results, data, dag_status, failed_count, unblind,
                        {"report": str(page), "zero_lag": str(table) if table else None})
    for stage, counts in summary["stages"].items():
        log.info("%-14s %5d / %-5d done", stage, counts["done"], counts["total"])
    with atomic_file(output, "w") as handle:
        json.dump(summary, handle, indent=1, sort_keys=True)
        handle.write("\n")
    written.append(output)
    if dag_status != 0:
        raise TransientError(f"the DAG failed (DAG_STATUS {dag_status}, {failed_count} failed nodes); see {page}, "
                             "`aframe-dag status` and `aframe-dag why NODE`")
    log.info("every node succeeded; summary in %s, report in %s", output, page)
    return written
