"""`aframe-dag status`, `why` and `resubmit`: thin click shells over aframe_dag.status."""

from __future__ import annotations

import json
import os

import click

from .errors import UserError

CONDOR_DIR_VARIABLE = "AFRAME_CONDOR_DIR"
_condor_dir = click.argument("condor_dir", required=False, type=click.Path(file_okay=False))
_any_dag = click.argument("condor_dir", required=False, type=click.Path(), metavar="[CONDOR_DIR|DAG_FILE]")


def condor_dir_or_default(condor_dir: str | None) -> str:
    """CONDOR_DIR as given, else $AFRAME_CONDOR_DIR (what run.sh exports)."""
    chosen = condor_dir or os.environ.get(CONDOR_DIR_VARIABLE)
    if not chosen:
        raise UserError(f"give the condor dir (CONDOR_DIR), or set ${CONDOR_DIR_VARIABLE} (source your run.sh)")
    return chosen


@click.command("status")
@_any_dag
@click.option("--watch", "watch_it", is_flag=True,
              help="Redraw every few seconds, with a progress bar, until the DAG finishes (Ctrl-C stops).")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds between redraws with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable state (one JSON object per redraw).")
@click.option("--nodes", "every_node", is_flag=True, help="List every node, not only those that need a look.")
def status(condor_dir, watch_it, interval, as_json, every_node) -> None:
    """Show a run's progress per stage from its files (node status file, node log, rescue files, done-markers),
    with live job states from the schedd when one answers. CONDOR_DIR defaults to $AFRAME_CONDOR_DIR; any DAG file
    (a DAG `build` did not write, a SUBDAG's own DAG) reads the same way."""
    from .status import format_status, read_status, watch

    directory = condor_dir_or_default(condor_dir)

    def show(run) -> None:
        if as_json:
            click.echo(json.dumps(run.to_dict(), sort_keys=True))
            return
        if watch_it:
            click.clear()
        click.echo(format_status(run, every_node=every_node))

    if not watch_it:
        show(read_status(directory))
        return
    try:
        watch(directory, show, interval=interval)
    except KeyboardInterrupt:
        click.echo("", err=True)


@click.command("why")
@click.argument("node")
@_any_dag
def why(node, condor_dir) -> None:
    """Explain NODE: exit code or hold reason, retries, command line, host/GPU and the end of its stderr; for a
    waiting node, what it waits for."""
    from .status import explain

    click.echo(explain(condor_dir_or_default(condor_dir), node))


@click.command("resubmit")
@_condor_dir
@click.option("--from", "from_number", type=click.IntRange(min=1), metavar="N",
              help="Use rescue file N (DAGMan's -DoRescueFrom N) instead of the newest.")
def resubmit(condor_dir, from_number) -> None:
    """Resubmit the DAG from its rescue file (refused while it still runs); where no schedd answers, say how (exit
    2)."""
    from .status import resubmit_plan
    from .submit import submit_dag

    plan = resubmit_plan(condor_dir_or_default(condor_dir), from_number)
    click.echo(plan.describe())
    click.echo(submit_dag(plan.condor_dir, plan.name, rescue_from=from_number))
