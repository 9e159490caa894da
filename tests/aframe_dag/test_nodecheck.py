"""The PRE script: exit 99 only when the marker's hash matches and every output is as the node left it."""

import subprocess
import sys

import pytest

from aframe_dag.nodecheck import SKIP, main, why_not_done
from executables.common.markers import write_done_marker


@pytest.fixture
def done_node(tmp_path):
    """A node that finished: one file and one directory output, and its marker."""
    output, repository = tmp_path / "out.hdf5", tmp_path / "model_repo"
    output.write_bytes(b"strain")
    (repository / "aframe" / "1").mkdir(parents=True)
    (repository / "aframe" / "1" / "model.onnx").write_bytes(b"onnx")
    write_done_marker(tmp_path / "condor" / "done" / "n.json", "n", [output, repository, ], "abc123")
    return tmp_path


def test_done_node_is_skipped(done_node):
    assert why_not_done(done_node / "condor", "n", "abc123") is None


@pytest.mark.parametrize("change, reason", [
    (lambda d: (d / "condor" / "done" / "n.json").unlink(), "no done-marker"),
    (lambda d: (d / "condor" / "done" / "n.json").write_text("{broken"), "no done-marker"),
    (lambda d: (d / "out.hdf5").unlink(), "out.hdf5 is missing"),
    (lambda d: (d / "out.hdf5").write_bytes(b"truncated!!"), "out.hdf5 changed"),
    (lambda d: (d / "model_repo" / "aframe" / "1" / "extra").write_bytes(b""), "model_repo changed"),
])
def test_node_must_run(done_node, change, reason):
    change(done_node)
    assert reason in why_not_done(done_node / "condor", "n", "abc123")


def test_changed_hash_means_rerun(done_node):
    assert "inputs or arguments changed" in why_not_done(done_node / "condor", "n", "other")


def test_s3_outputs_are_trusted_from_the_marker(tmp_path):
    marker = tmp_path / "done" / "n.json"
    marker.parent.mkdir()
    marker.write_text('{"hash": "h", "node": "n", "outputs": [{"path": "s3://b/model.pt", "size": 10}]}')
    assert why_not_done(tmp_path, "n", "h") is None


def test_exit_codes(done_node, capsys):
    with pytest.raises(SystemExit) as done:
        main([str(done_node / "condor"), "n", "abc123"])
    with pytest.raises(SystemExit) as not_done:
        main([str(done_node / "condor"), "n", "zzz"])
    with pytest.raises(SystemExit) as usage:
        main(["only-one"])
    assert (done.value.code, not_done.value.code, usage.value.code) == (SKIP, 0, 2)


def test_console_script_uses_only_the_standard_library(done_node):
    """It runs for every node on the access point: importing it must not pull in the heavy stack."""
    code = ("import sys, aframe_dag.nodecheck; "
            "assert not {'numpy', 'h5py', 'torch', 'click', 'jinja2', 'htcondor2'} & set(sys.modules), sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
