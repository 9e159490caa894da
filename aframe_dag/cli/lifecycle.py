"""`aframe-dag invalidate`, `stop`, `attach` and `clean`: thin click shells over aframe_dag.lifecycle."""

from __future__ import annotations

import click

from .condor_dir import condor_dir_flag, split_condor_dir, takes_condor_dir


@click.command("invalidate")
@click.argument("words", nargs=-1, required=True, metavar="NODE... [CONDOR_DIR]")
@condor_dir_flag
@click.option("--downstream", is_flag=True, help="Also every node below them (their outputs were made from theirs).")
def invalidate(words, condor_dir_option, downstream) -> None:
    """Make NODEs run again: remove their done-markers and their DONE lines from the newest rescue file (written
    anew as the next rescue file; the old one stays). Deletes no data file. CONDOR_DIR defaults to
    $AFRAME_CONDOR_DIR."""
    from ..lifecycle.invalidate import invalidate as invalidate_nodes

    nodes, condor_dir = split_condor_dir(words, condor_dir_option)
    click.echo(invalidate_nodes(condor_dir, nodes, downstream).describe())


@click.command("stop")
@takes_condor_dir()
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for the run to let go.")
def stop(condor_dir, timeout) -> None:
    """Stop the local run (`aframe-dag run`, detached or not) cleanly: its nodes end, the rescue file is written;
    returns once it is gone. `aframe-dag run` resumes it."""
    from ..lifecycle.detached import stop as stop_run

    click.echo(stop_run(condor_dir, timeout))


@click.command("attach")
@takes_condor_dir()
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.2),
              help="Seconds between redraws.")
def attach(condor_dir, interval) -> None:
    """Follow a local run: its live status and the end of its log, until it ends. Ctrl-C leaves it running."""
    from ..lifecycle.detached import attach as attach_run

    def show(text: str) -> None:
        click.clear()
        click.echo(text)

    try:
        pid = attach_run(condor_dir, show, interval)
    except KeyboardInterrupt:
        click.echo(f"\ndetached: the run goes on (`aframe-dag attach {condor_dir}` to follow it again, "
                   f"`aframe-dag stop {condor_dir}` to stop it)")
        return
    click.echo(f"the run (executor pid {pid}) has ended")


@click.command("clean")
@takes_condor_dir()
@click.option("--shards", "what", flag_value="shards", help="Shards a done merge has combined, once nothing reads "
              "them any more.")
@click.option("--scratch", "what", flag_value="scratch", help="The run's tmp dir, the .cache download dirs and the "
              "temporaries killed nodes left beside their outputs.")
@click.option("--yes", is_flag=True, help="Remove them (without it: only list them).")
def clean(condor_dir, what, yes) -> None:
    """List (and with --yes remove) what a run no longer needs, with the space it takes. Only merged shards and
    scratch are ever removed. CONDOR_DIR defaults to $AFRAME_CONDOR_DIR."""
    from ..errors import UserError
    from ..lifecycle.clean import human, remove, scratch_plan, shard_plan

    if what is None:
        raise UserError("say what to clean: --shards or --scratch")
    plan = (shard_plan if what == "shards" else scratch_plan)(condor_dir)
    click.echo(plan.describe())
    if not yes:
        if plan.remove:
            click.echo("nothing removed: add --yes to remove these")
        return
    freed = remove(plan)
    click.echo(f"removed {len(plan.remove)}, freed {human(freed)}")
