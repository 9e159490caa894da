"""The `aframe-dag` command line: thin shells over library functions; errors become one line and exit 2."""

from __future__ import annotations

import sys
import traceback

import click

from .. import __version__
from ..errors import UserError
from . import dag, inspect, lifecycle

_set_option = click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a config key (repeatable)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aframe-dag")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Run the aframe gravitational-wave search as an HTCondor DAGMan workflow.

    \b
    aframe-dag init sandbox --directory ~/runs/first
    source ~/runs/first/run.sh
    aframe-dag build ~/runs/first/run.ini
    condor_submit_dag $AFRAME_CONDOR_DIR/aframe.dag     (or: aframe-dag run $AFRAME_CONDOR_DIR)
    """


@cli.command()
@click.argument("kind", type=click.Choice(["sandbox", "tune"]), required=False)
@click.option("--directory", "-d", required=True, type=click.Path(file_okay=False), help="Run directory to set up.")
@click.option("--from-aframe", "from_aframe", type=click.Path(dir_okay=False), metavar="CFG|CONFIG.YAML",
              help="Take the values of an aframe config: a law .cfg or the Snakemake pipeline's config.yaml (KIND "
                   "defaults to sandbox); unmapped keys are listed.")
@click.option("--train-yaml", type=click.Path(dir_okay=False),
              help="With --from-aframe: aframe's train YAML too (for config.yaml: instead of its train_config).")
@click.option("--s3-bucket", metavar="s3://BUCKET[/PREFIX]",
              help="Keep training data and runs on S3; train on Kubernetes.")
@click.option("--site", default="ldg", show_default=True,
              help="Site profile: ldg, igwn, osg (no shared filesystem), local (no accounting).")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True,
              help="cpu: no stage requests a GPU.")
@click.option("--name", help="Run name (default: from the directory name).")
@click.option("--tiny", is_flag=True, help="Laptop-sized: hours of data, small requests (what `make demo` runs).")
@click.option("--force", is_flag=True, help="Replace existing files (the old ones are kept as NAME.~N~).")
def init(kind, directory, from_aframe, train_yaml, s3_bucket, site, device, name, tiny, force) -> None:
    """Write run.ini, train.yaml and run.sh for a new run (KIND: sandbox or tune) in DIRECTORY."""
    from ..init.init import init_run, next_steps, tmp_warning

    if kind is None and from_aframe is None:
        raise click.UsageError("give KIND (sandbox or tune), or --from-aframe PATH")
    if train_yaml is not None and from_aframe is None:
        raise click.UsageError("--train-yaml needs --from-aframe")
    translation = None
    if from_aframe is not None:
        from ..init.from_aframe import translate

        translation = translate(from_aframe, train_yaml)
    files = init_run(kind or "sandbox", directory, s3_bucket=s3_bucket, site=site, device=device, name=name,
                     force=force, tiny=tiny, aframe=translation)
    for path in files.values():
        click.echo(f"wrote {path}")
    for line in translation.unmapped if translation else ():
        click.echo(f"not mapped: {line}")
    warning = tmp_warning(files, site)
    if warning:
        click.echo(f"aframe-dag: warning: {warning}", err=True)
    click.echo("\nnext:" + "".join(f"\n  {step}" for step in next_steps(files, site)))


@cli.group()
def config() -> None:
    """Inspect configuration: the resolved values of a run.ini, or the reference of every key."""


@config.command("show")
@click.argument("run_ini", type=click.Path(dir_okay=False))
@_set_option
def config_show(run_ini, overrides) -> None:
    """Print RUN_INI resolved: every key with its final value, and MISSING above each key still to set."""
    from ..config import load_config, resolved_text

    resolved = load_config(run_ini, overrides, allow_missing=True)
    click.echo(resolved_text(resolved), nl=False)
    if resolved.missing:
        keys = ", ".join(f"[{section}] {key}" for section, key in resolved.missing)
        click.echo(f"aframe-dag: warning: {resolved.path}: {keys} still to set (marked MISSING above); build refuses "
                   "the config until then", err=True)


@config.command("docs")
def config_docs() -> None:
    """Print every config key with its default, unit and meaning."""
    from ..config import docs_text

    click.echo(docs_text(), nl=False)


@cli.command()
@click.argument("run_ini", type=click.Path(dir_okay=False))
@_set_option
@click.option("--outdir", type=click.Path(file_okay=False), help="Condor dir to write (default: [run] condor_dir).")
@click.option("--segments", "segments_file", type=click.Path(dir_okay=False),
              help="Segments where real data exist ('start stop' or segwizard lines); cached in the condor dir.")
@click.option("--force", is_flag=True, help="Replace a different DAG already in the condor dir.")
@click.option("--dry-run", is_flag=True, help="Plan and render, print the summary, write nothing.")
@click.option("--submit", is_flag=True, help="Submit the DAG to the schedd after building it.")
def build(run_ini, overrides, outdir, segments_file, force, dry_run, submit) -> None:
    """Plan RUN_INI and write aframe.dag, the submit files and run.ini.resolved to the condor dir."""
    from ..builder.build import build as build_run
    from ..builder.report import build_report

    result = build_run(run_ini, overrides, outdir=outdir, segments_file=segments_file, force=force, dry_run=dry_run)
    click.echo(build_report(result, dry_run))
    if submit and not dry_run:
        from ..condordir.running import refuse_while_running
        from ..lifecycle.submit import submit_dag

        refuse_while_running(result.condor_dir, "submit it")  # an unchanged build still reaches here
        click.echo(submit_dag(result.condor_dir, result.workflow.name))


for _command in (dag.node_check, dag.graph, dag.check, dag.run, inspect.status, inspect.why, inspect.resubmit,
                 lifecycle.invalidate, lifecycle.stop, lifecycle.attach, lifecycle.clean):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: UserError -> one line, exit 2; other errors -> one line, exit 1 (--debug: traceback)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args[: args.index("--") if "--" in args else len(args)]
    try:
        code = cli.main(args, prog_name="aframe-dag", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        code = 1
    except UserError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"aframe-dag: error: {exc}", err=True)
        code = exc.exit_code
    except Exception as exc:  # an unexpected failure is a bug: say so briefly, trace on request
        if debug:
            traceback.print_exc()
        click.echo(f"aframe-dag: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                   err=True)
        code = 1
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
