"""`aframe-dag run` on a file-transfer DAG (issue 22): the short run after training (``small_run``), built with
`[condor] filesystem = transfer`, runs every node in a sandbox of its own and finds the shared run's events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from aframe_dag.builder.build import build
from aframe_dag.init.init import run_directories
from aframe_dag.nodecheck import why_not_done
from tests.fixtures.micro import AFRAME_DAG, RUN_TIMEOUT, copy_micro_config

pytestmark = pytest.mark.slow

TRANSFER = ("condor.filesystem=transfer", f"condor.executable_dir={Path(sys.executable).parent}")


def test_a_transfer_dag_runs_here_in_sandboxes_and_finds_the_shared_runs_events(small_run, tmp_path, monkeypatch):
    for variable, value in run_directories(tmp_path, None).items():
        monkeypatch.setenv(variable, value)
    result = build(copy_micro_config(tmp_path), [*small_run.overrides, *TRANSFER])
    run = subprocess.run([AFRAME_DAG, "run", str(result.condor_dir), "--workers", "2"], capture_output=True,
                         text=True, timeout=RUN_TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    for node in result.workflow.nodes:
        if not node.final:  # each marker was landed by the POST script and names access-point paths
            assert why_not_done(result.condor_dir, node.name, node.hash) is None, node.name
    for kind, copy in small_run.events.items():
        with h5py.File(copy) as shared, h5py.File(tmp_path / "results" / copy.name) as mine:
            statistic = "parameters/detection_statistic"
            np.testing.assert_array_equal(mine[statistic][:], shared[statistic][:], err_msg=kind)
    assert not list((result.condor_dir / ".aframe-run" / "sandboxes").glob("*"))
