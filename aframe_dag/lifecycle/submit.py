"""Submitting a DAG through the htcondor2 bindings; where no schedd answers, a UserError that says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import htcondor2

from ..errors import UserError
from ..names import DAG_FILE


def submit_command(condor_dir, batch_name: str | None, rescue_from: int | None = None) -> str:
    """The condor_submit_dag line that does the same by hand."""
    options = ([f"-batch-name {batch_name}"] if batch_name else []) + (
        [f"-DoRescueFrom {rescue_from}"] if rescue_from is not None else [])
    return " ".join(["condor_submit_dag", *options, str(Path(condor_dir) / DAG_FILE)])


def _no_schedd(exc: Exception) -> str:
    """Why no schedd answered, naming the pool this machine's HTCondor configuration points at (if any)."""
    collector = htcondor2.param.get("COLLECTOR_HOST")
    if collector:
        return f"no schedd of the pool at {collector} answers on this machine ({_words(exc)})"
    config = os.environ.get("CONDOR_CONFIG") or "none found"
    return (f"this machine is not an HTCondor access point: its HTCondor configuration ({config}) names no pool "
            f"({_words(exc)})")


def _words(exc: Exception) -> str:
    """An exception's message on one line (the CLI prints errors as one line)."""
    return " ".join(str(exc).split())


def submit_dag(condor_dir, batch_name: str | None, rescue_from: int | None = None) -> str:
    """Submit condor_dir/aframe.dag (DAGMan picks up its newest rescue file itself, or rescue file `rescue_from`);
    returns what happened. A failure is a UserError (exit 2): a script must not take it for a submission."""
    dag = Path(condor_dir) / DAG_FILE
    command = submit_command(condor_dir, batch_name, rescue_from)
    options: dict[str, str | int] = {"batch-name": batch_name} if batch_name else {}
    if rescue_from is not None:
        options["DoRescueFrom"] = rescue_from
    try:
        schedd = htcondor2.Schedd()  # first: with no schedd, from_dag need not write aframe.dag.condor.sub
    except Exception as exc:  # the bindings raise HTCondorException (and others) for every way of finding none
        raise UserError(f"{dag}: not submitted: {_no_schedd(exc)}. Submit it on an access point of your pool with "
                        f"`{command}`, or run it on this machine with `aframe-dag run {condor_dir}`") from None
    try:
        result = schedd.submit(htcondor2.Submit.from_dag(str(dag), options))
    except Exception as exc:  # no condor_dagman, a refused submission: HTCondor's own words say which
        raise UserError(f"{dag}: not submitted: {type(exc).__name__}: {_words(exc)}; try `{command}` by hand on the "
                        "access point, which shows HTCondor's full message") from None
    name = f" -batch-name {batch_name}" if batch_name else ""
    watch = f"condor_q -dag{name}; aframe-dag status {condor_dir}"
    return f"submitted: DAGMan job {result.cluster()} ({watch})"
