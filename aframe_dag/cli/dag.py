"""`aframe-dag check`, `graph`, `node-check` and `run`: thin click shells over a built DAG and its files."""

from __future__ import annotations

import click

from ..errors import UserError
from .condor_dir import ANY_DAG, condor_dir_flag, split_condor_dir, takes_condor_dir


@click.command("node-check")
@click.argument("words", nargs=-1, required=True, metavar="NODE [HASH] [CONDOR_DIR]")
@condor_dir_flag
def node_check(words, condor_dir_option) -> None:
    """Say whether NODE is done (its PRE script would skip it): exit 99 when done, 0 when it must run. HASH
    defaults to the one the DAG gives the node; the older order CONDOR_DIR NODE [HASH] works too."""
    from ..condordir.dag import node_hash_in_dag
    from ..nodecheck import SKIP, why_not_done

    words, condor_dir = split_condor_dir(words, condor_dir_option, say_so=False)
    if len(words) > 2:
        raise click.UsageError(f"expected NODE [HASH] [CONDOR_DIR], got {len(words)} words besides the condor dir")
    node, node_hash = words[0], words[1] if len(words) == 2 else node_hash_in_dag(condor_dir, words[0])
    reason = why_not_done(condor_dir, node, node_hash)
    click.echo(f"{node}: done" if reason is None else f"{node}: must run: {reason}")
    raise SystemExit(SKIP if reason is None else 0)


@click.command()
@takes_condor_dir(ANY_DAG)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Picture to write (.png, .svg, .pdf or .dot).")
@click.option("--every-node", is_flag=True, help="One box per node instead of one per stage.")
def graph(condor_dir, output, every_node) -> None:
    """Draw the DAG of CONDOR_DIR (graphviz's dot makes PNG/SVG/PDF; without it, the .dot source is written and
    a picture asked for with -o is an error, exit 2)."""
    from pathlib import Path

    from ..condordir.dag import dag_path, load_dag
    from ..status.graph import draw

    dag = dag_path(condor_dir)
    wanted = Path(output or dag.with_suffix(".png").with_stem(f"{dag.stem}-graph"))
    written = draw(load_dag(dag), wanted, every_node)
    if written == wanted:
        click.echo(f"wrote {written}")
        return
    how = f"`dot -T{wanted.suffix.lstrip('.')} {written} -o {wanted}` where graphviz is installed"
    if output:
        raise UserError(f"{wanted} not made: graphviz's `dot` is not installed here; wrote {written} instead: make "
                        f"the picture with {how}")
    click.echo(f"wrote {written}, not {wanted.name}: graphviz's `dot` is not installed here (make it with {how})")


@click.command()
@takes_condor_dir(ANY_DAG)
@click.option("--local", "local_only", is_flag=True,
              help="The run is for `aframe-dag run` only: a condor dir under /tmp is fine.")
@click.option("--no-htcondor-tools", is_flag=True, help="Skip condor_dag_checker and condor_submit -dry-run.")
def check(condor_dir, local_only, no_htcondor_tools) -> None:
    """Lint a built condor dir (or any DAG file): the DAG, every submit file, and HTCondor's own checkers where
    installed. Findings go to stderr, the count to stdout; exit 2 when there is an error."""
    from ..check import check_run, format_findings
    from ..check.tools import tools_note

    findings = check_run(condor_dir, submittable=not local_only, htcondor_tools=not no_htcondor_tools)
    if findings:
        click.echo(format_findings(findings), err=True)
    errors = sum(f.severity == "error" for f in findings)
    click.echo(f"{condor_dir}: {errors} errors, {len(findings) - errors} warnings; {tools_note(not no_htcondor_tools)}")
    raise SystemExit(2 if errors else 0)


@click.command()
@takes_condor_dir(ANY_DAG)
@click.option("--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes running at once.")
@click.option("--gpus", default="", metavar="0,1", help="GPU ids the GPU nodes may use (CUDA_VISIBLE_DEVICES).")
@click.option("--only", multiple=True, metavar="NODE", help="Run just these nodes (repeatable), parents ignored.")
@click.option("--detach", is_flag=True, help="Run in the background; output goes to CONDOR_DIR/aframe-run.log.")
@click.option("--dry-run", is_flag=True, help="Say which nodes would run and which are done; run nothing.")
def run(condor_dir, workers, gpus, only, detach, dry_run) -> None:
    """Run the DAG in CONDOR_DIR (or any DAG file) on this machine, as DAGMan would; run it again to resume.

    What only DAGMan can run (SUBDAG EXTERNAL, SERVICE, PROVISIONER, SCRIPT DEFER) is refused before anything
    starts, with its file and line."""
    from .run import run_local

    raise SystemExit(run_local(condor_dir, workers, gpus, list(only), detach, dry_run))
