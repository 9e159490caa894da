"""`aframe-dag run`: logging, --dry-run, --detach around the executor."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import click

from ..condordir.dag import dag_path
from ..condordir.running import lock_record, refuse_while_running
from ..errors import UserError
from ..local.executor import Executor
from ..local.state import RunLock
from ..names import RUN_LOG

DETACH_TIMEOUT = 30.0


def _gpu_ids(text: str) -> list[str]:
    ids = [item.strip() for item in text.split(",") if item.strip()]
    if len(set(ids)) != len(ids):
        raise click.BadParameter(f"'{text}' names a GPU twice", param_hint="--gpus")
    return ids


def _holds_the_run(condor_dir: Path, process: subprocess.Popen, timeout: float = DETACH_TIMEOUT) -> bool:
    """Wait until the background executor holds the run's lock (so `attach` and `stop` find it at once); False when
    it ended first."""
    deadline = time.monotonic() + timeout
    while lock_record(condor_dir).get("pid") != process.pid and time.monotonic() < deadline:
        if process.poll() is not None:
            return lock_record(condor_dir).get("pid") == process.pid and process.returncode == 0
        time.sleep(0.05)
    return True


def _detach(dag: Path, workers: int, gpus: str, only: list[str]) -> int:
    """Start the same run in a new session, its output in the condor dir; say how to follow it."""
    condor_dir = dag.parent
    lock = RunLock(condor_dir)
    lock.acquire()  # refuse now, in the terminal, if another executor holds the run
    lock.release()
    log_path = condor_dir / RUN_LOG
    command = [sys.executable, "-m", "aframe_dag.cli.main", "run", str(dag), "--workers", str(workers)]
    command += ["--gpus", gpus] if gpus else []
    command += [item for node in only for item in ("--only", node)]
    with open(log_path, "a") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    if not _holds_the_run(condor_dir, process):
        click.echo(f"the background run ended at once (exit {process.returncode}); its log {log_path} ends with:\n"
                   + "\n".join(f"  {line}" for line in log_path.read_text().splitlines()[-10:]), err=True)
        return 1
    click.echo(f"running in the background (pid {process.pid}); it outlives this terminal.\n"
               f"  follow:  aframe-dag attach {condor_dir}   (Ctrl-C leaves it running)\n"
               f"  log:     {log_path}\n"
               f"  stop:    aframe-dag stop {condor_dir}   (then `aframe-dag run {condor_dir}` resumes)")
    return 0


def _refuse_stale_rescue(dag: Path) -> None:
    """The executor resumes from the newest rescue file as DAGMan does: refuse one that marks undone nodes DONE."""
    from ..condordir.dag import load_dag
    from ..lifecycle.stale import stale_refusal

    refusal = stale_refusal(dag.parent, load_dag(dag), then="run")
    if refusal:
        raise UserError(refusal)


def run_local(condor_dir, workers: int, gpus: str, only: list[str], detach: bool, dry_run: bool) -> int:
    """The `run` command's work; returns its exit code."""
    dag = dag_path(Path(condor_dir).absolute())
    gpu_ids = _gpu_ids(gpus)
    if not dry_run:
        refuse_while_running(dag, "run it here")  # DAGMan (or another executor) runs it now
    if not only:
        _refuse_stale_rescue(dag)
    if detach and not dry_run:
        Executor(dag, workers, gpu_ids, only or None)  # validate the DAG and --only before detaching
        return _detach(dag, workers, gpus, only)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    executor = Executor(dag, workers, gpu_ids, only or None)
    if dry_run:
        for node, what in executor.pending():
            click.echo(f"{node:40s} {what}")
        return 0
    return executor.run()
