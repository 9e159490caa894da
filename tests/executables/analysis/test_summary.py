"""The FINAL summary: every node's state from the done-markers, and a failure exit when the DAG failed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from executables.common.markers import write_done_marker

SUMMARY = str(Path(sys.executable).with_name("aframe-summary"))
DAG = """JOB background-train-1-2 {c}/background.sub
JOB background-test-3-4 {c}/background.sub
JOB train {c}/train.sub
PARENT background-train-1-2 CHILD train
FINAL summary {c}/summary.sub
"""


@pytest.fixture
def condor_dir(tmp_path):
    (tmp_path / "aframe.dag").write_text(DAG.format(c=tmp_path))
    output = tmp_path / "bg.hdf5"
    output.write_bytes(b"x")
    for node in ("background-train-1-2", "background-test-3-4"):
        write_done_marker(tmp_path / "done" / f"{node}.json", node, [output], "h")
    return tmp_path


def run(condor_dir, status, failed):
    return subprocess.run([SUMMARY, "--condor-dir", condor_dir, "--output", condor_dir / "summary.json",
                           "--dag-status", str(status), "--failed-count", str(failed)], capture_output=True, text=True)


def test_summary_counts_stages_and_exits_with_the_dag(condor_dir):
    result = run(condor_dir, 2, 1)
    assert result.returncode == 1
    assert "the DAG failed (DAG_STATUS 2, 1 failed nodes)" in result.stderr
    summary = json.loads((condor_dir / "summary.json").read_text())
    assert summary["stages"] == {"background": {"done": 2, "total": 2}, "train": {"done": 0, "total": 1}}
    assert summary["nodes"]["train"] == {"done": False, "finished": None}
    assert summary["dag_status"] == 2


def test_successful_dag(condor_dir):
    result = run(condor_dir, 0, 0)
    assert result.returncode == 0, result.stderr
    assert "every node succeeded" in result.stderr


def test_missing_dag_is_a_permanent_error(tmp_path):
    result = run(tmp_path, 0, 0)
    assert result.returncode == 2 and "cannot read the DAG" in result.stderr
