"""`aframe-dag run`: logging, --dry-run, --detach around the executor."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import click

from .executor import Executor
from .state import RunLock

LOG_NAME = "aframe-run.log"


def _gpu_ids(text: str) -> list[str]:
    ids = [item.strip() for item in text.split(",") if item.strip()]
    if len(set(ids)) != len(ids):
        raise click.BadParameter(f"'{text}' names a GPU twice", param_hint="--gpus")
    return ids


def _detach(condor_dir: Path, workers: int, gpus: str, only: list[str]) -> int:
    """Start the same run in a new session, its output in the condor dir; say how to follow it."""
    lock = RunLock(condor_dir)
    lock.acquire()  # refuse now, in the terminal, if another executor holds the run
    lock.release()
    log_path = condor_dir / LOG_NAME
    command = [sys.executable, "-m", "aframe_dag.cli", "run", str(condor_dir), "--workers", str(workers)]
    command += ["--gpus", gpus] if gpus else []
    command += [item for node in only for item in ("--only", node)]
    with open(log_path, "a") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    click.echo(f"running in the background (pid {process.pid}); it outlives this terminal.\n"
               f"  follow:  aframe-dag status {condor_dir} --watch\n  log:     tail -f {log_path}\n"
               f"  stop:    kill {process.pid}   (then `aframe-dag run {condor_dir}` resumes)")
    return 0


def run_local(condor_dir, workers: int, gpus: str, only: list[str], detach: bool, dry_run: bool) -> int:
    """The `run` command's work; returns its exit code."""
    condor_dir = Path(condor_dir).absolute()
    gpu_ids = _gpu_ids(gpus)
    if detach and not dry_run:
        Executor(condor_dir, workers, gpu_ids, only or None)  # validate the DAG and --only before detaching
        return _detach(condor_dir, workers, gpus, only)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    executor = Executor(condor_dir, workers, gpu_ids, only or None)
    if dry_run:
        for node, what in executor.pending():
            click.echo(f"{node:40s} {what}")
        return 0
    return executor.run()
