"""Submitting a DAG through the htcondor2 bindings, or saying how when no schedd answers."""

from __future__ import annotations

from pathlib import Path

from .render import DAG_FILE


def submit_dag(condor_dir, batch_name: str) -> str:
    """Submit condor_dir/aframe.dag (DAGMan picks up its newest rescue file itself); returns what happened."""
    dag = Path(condor_dir) / DAG_FILE
    command = f"condor_submit_dag -batch-name {batch_name} {dag}"
    try:
        import htcondor2

        description = htcondor2.Submit.from_dag(str(dag), {"batch-name": batch_name})
        result = htcondor2.Schedd().submit(description)
    except Exception as exc:  # no schedd, no condor_dagman, no pool config: all mean "submit by hand"
        return f"could not submit ({type(exc).__name__}: {exc}); on an access point run:\n  {command}"
    watch = f"condor_q -dag -batch-name {batch_name}; aframe-dag status {condor_dir}"
    return f"submitted: DAGMan job {result.cluster()} ({watch})"
