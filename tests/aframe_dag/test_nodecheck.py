"""The PRE script: exit 99 only when the marker's hash matches and every output is as the node left it."""

import json
import os
import subprocess
import sys

import pytest

from aframe_dag import nodecheck
from aframe_dag.nodecheck import SKIP, why_not_done
from aframe_dag.prepost import main
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


def test_an_output_of_the_same_size_but_other_content_makes_it_run(done_node):
    """A corrupted or swapped file keeps its size: the digest in the marker tells it apart."""
    output = done_node / "out.hdf5"
    output.write_bytes(b"strait")
    reason = why_not_done(done_node / "condor", "n", "abc123")
    assert reason == f"its output {output} changed since the node finished (its content is not what the node wrote)"


def test_content_decides_over_the_modification_time(done_node):
    """A copy of the same bytes (a restore, a transfer) is still done; without reading content, a newer file is not."""
    output = done_node / "out.hdf5"
    stat = output.stat()
    os.utime(output, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert why_not_done(done_node / "condor", "n", "abc123") is None
    assert "modified after the node wrote it" in why_not_done(done_node / "condor", "n", "abc123", content=False)


def test_outputs_above_the_digest_limit_are_checked_by_size_and_time(tmp_path, monkeypatch):
    monkeypatch.setattr(nodecheck, "DIGEST_LIMIT", 4)
    output = tmp_path / "big.hdf5"
    output.write_bytes(b"12345678")
    record = write_done_marker(tmp_path / "done" / "n.json", "n", [output], "h")
    assert "sha1" not in record["outputs"][0]
    output.write_bytes(b"87654321")
    os.utime(output, ns=(0, record["outputs"][0]["mtime_ns"]))
    assert why_not_done(tmp_path, "n", "h") is None  # not read: the file's HDF5 checksums guard its bytes
    os.utime(output, ns=(0, record["outputs"][0]["mtime_ns"] + 1))
    assert "modified after the node wrote it" in why_not_done(tmp_path, "n", "h")


def test_a_marker_of_an_older_version_is_checked_on_what_it_records(done_node):
    """Markers written before digests recorded path and size only: a finished run is not redone for that."""
    marker = done_node / "condor" / "done" / "n.json"
    record = json.loads(marker.read_text())
    record["outputs"] = [{"path": item["path"], "size": item["size"], **({"files": item["files"]} if "files" in item
                                                                        else {})} for item in record["outputs"]]
    marker.write_text(json.dumps(record))
    (done_node / "out.hdf5").write_bytes(b"strait")
    assert why_not_done(done_node / "condor", "n", "abc123") is None
