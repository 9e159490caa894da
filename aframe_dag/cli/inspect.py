"""`aframe-dag status`, `why` and `resubmit`: thin click shells over aframe_dag.status."""

from __future__ import annotations

import json

import click

from .condor_dir import ANY_DAG, condor_dir_flag, split_condor_dir, takes_condor_dir


@click.command("status")
@takes_condor_dir(ANY_DAG)
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
    from ..status.merge import read_status, watch
    from ..status.text import format_status

    def show(run) -> None:
        if as_json:
            click.echo(json.dumps(run.to_dict(), sort_keys=True))
            return
        if watch_it:
            click.clear()
        click.echo(format_status(run, every_node=every_node))

    if not watch_it:
        show(read_status(condor_dir))
        return
    try:
        watch(condor_dir, show, interval=interval)
    except KeyboardInterrupt:
        click.echo("", err=True)


@click.command("why")
@click.argument("words", nargs=-1, required=True, metavar=f"NODE {ANY_DAG}")
@condor_dir_flag
def why(words, condor_dir_option) -> None:
    """Explain NODE: exit code or hold reason, retries, command line, host/GPU and the end of its stderr; for a
    waiting node, what it waits for."""
    from ..status.why import explain

    nodes, condor_dir = split_condor_dir(words, condor_dir_option)
    if len(nodes) != 1:
        raise click.UsageError(f"expected one NODE, got {len(nodes)}: {' '.join(nodes)}")
    click.echo(explain(condor_dir, nodes[0]))


@click.command("resubmit")
@takes_condor_dir()
@click.option("--from", "from_number", type=click.IntRange(min=1), metavar="N",
              help="Use rescue file N (DAGMan's -DoRescueFrom N) instead of the newest.")
def resubmit(condor_dir, from_number) -> None:
    """Resubmit the DAG from its rescue file (refused while it still runs); where no schedd answers, say how (exit
    2)."""
    from ..lifecycle.resubmit import resubmit_plan
    from ..lifecycle.submit import submit_dag

    plan = resubmit_plan(condor_dir, from_number)
    click.echo(plan.describe())
    click.echo(submit_dag(plan.condor_dir, plan.name, rescue_from=from_number))
