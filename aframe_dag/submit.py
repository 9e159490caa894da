"""Submitting a DAG through the htcondor2 bindings, or saying how when no schedd answers."""

from __future__ import annotations

from pathlib import Path

from .render import DAG_FILE


def submit_command(condor_dir, batch_name: str | None, rescue_from: int | None = None) -> str:
    """The condor_submit_dag line that does the same by hand."""
    options = ([f"-batch-name {batch_name}"] if batch_name else []) + (
        [f"-DoRescueFrom {rescue_from}"] if rescue_from is not None else [])
    return " ".join(["condor_submit_dag", *options, str(Path(condor_dir) / DAG_FILE)])


def submit_dag(condor_dir, batch_name: str | None, rescue_from: int | None = None) -> str:
    """Submit condor_dir/aframe.dag (DAGMan picks up its newest rescue file itself, or rescue file `rescue_from`);
    returns what happened, or the command to run by hand when no schedd answers."""
    dag = Path(condor_dir) / DAG_FILE
    command = submit_command(condor_dir, batch_name, rescue_from)
    options: dict[str, str | int] = {"batch-name": batch_name} if batch_name else {}
    if rescue_from is not None:
        options["DoRescueFrom"] = rescue_from
    try:
        import htcondor2

        schedd = htcondor2.Schedd()  # first: with no schedd, from_dag need not write aframe.dag.condor.sub
        description = htcondor2.Submit.from_dag(str(dag), options)
        result = schedd.submit(description)
    except Exception as exc:  # no schedd, no condor_dagman, no pool config: all mean "submit by hand"
        return f"could not submit ({type(exc).__name__}: {exc}); on an access point run:\n  {command}"
    name = f" -batch-name {batch_name}" if batch_name else ""
    watch = f"condor_q -dag{name}; aframe-dag status {condor_dir}"
    return f"submitted: DAGMan job {result.cluster()} ({watch})"
