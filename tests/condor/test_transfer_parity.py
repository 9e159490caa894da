"""Parity of file transfer (issue 22): the same `should_transfer_files = YES` DAG under DAGMan and `aframe-dag run`
stages the same inputs into the sandbox and lands the same outputs in the same places."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aframe_dag.local.executor import Executor
from tests.aframe_dag.local.test_transfer import access_point, job
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor

# The sandbox's files, without HTCondor's own (.job.ad, .chirp.config, _condor_stdout, ...)
LISTING = "l=$(find . -name '.?*' -prune -o -name '_condor_*' -prune -o -print | sort); echo \"$l\" > out/listing"


def prepare(directory: Path) -> Path:
    """Two nodes: one staging every kind of input and remapping its outputs, one that checkpoints once."""
    ap = access_point(directory)
    (directory / "res" / "A").mkdir(parents=True)
    (directory / "res" / "A" / "keep").write_text("was there\n")
    staging = job(directory, "stage", f"mkdir -p out/training; {LISTING}; echo x > out/x.hdf5; "
                  "echo t > out/training/t; echo o > out/other; echo top > top.txt",
                  f"transfer_input_files = ap/file.txt, {ap}/dir, ap/dir/, file://{ap}/url.txt\n"
                  "transfer_output_files = out, top.txt",
                  'transfer_output_remaps = "out = res/A; out/x.hdf5 = res/B.hdf5; out/training = res/T"')
    checkpointing = job(directory, "ckpt", "n=$(cat out/n 2>/dev/null || echo 0)\n"
                        f"if [ $n -ge 1 ]; then {LISTING}; exit 0; fi\n"
                        "mkdir -p out; echo 1 > out/n; exit 85",
                        "transfer_input_files = ap/file.txt\ntransfer_output_files = out\ncheckpoint_exit_code = 85\n"
                        "transfer_checkpoint_files = out", 'transfer_output_remaps = "out = res/C"')
    (directory / "t.dag").write_text(staging + checkpointing)
    return directory / "t.dag"


def landed(directory: Path) -> dict[str, str]:
    """Every file the DAG's jobs brought back, with its content."""
    files = [directory / "top.txt", *(directory / "res").rglob("*")]
    return {str(path.relative_to(directory)): path.read_text() for path in files if path.is_file()}


def test_file_transfer_lands_files_where_htcondor_does(condor_pool: Pool, pool_dir: Path, tmp_path: Path) -> None:
    condor_pool.run([sys.executable, "-c", "pass"])
    pool_dag = prepare(pool_dir)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(pool_dag)
    assert condor_pool.wait_dag(pool_dag, timeout=60) == 0

    local_dag = prepare(tmp_path)
    assert Executor(local_dag, workers=2, poll=0.01).run() == 0

    dagman = landed(pool_dir)
    assert dagman["res/A/listing"].split() == [".", "./d.txt", "./dir", "./dir/d.txt", "./dir/sub", "./dir/sub/s.txt",
                                               "./file.txt", "./out", "./out/training", "./sub", "./sub/s.txt",
                                               "./url.txt"]
    assert dagman["res/C/listing"].split() == [".", "./file.txt", "./out", "./out/n"]
    assert landed(tmp_path) == dagman
