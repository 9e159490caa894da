"""The POST script of a file-transfer node: the outputs that came back become its done-marker only when they are
what the node wrote in its sandbox; the node's exit code passes through otherwise."""

import json
import shutil
from pathlib import Path

import pytest

from aframe_dag.names import landed_marker_name, marker_path
from aframe_dag.nodecheck import why_not_done
from aframe_dag.prepost import main
from aframe_dag.sandbox import MARKER, output_name
from executables.common.markers import write_done_marker

HASH = "0123456789abcdef"


@pytest.fixture
def landed(tmp_path, monkeypatch):
    """A node that wrote a file and a directory in its sandbox, as HTCondor brought them back to the access point."""
    sandbox, condor, results = tmp_path / "sandbox", tmp_path / "condor", tmp_path / "results"
    for directory in (sandbox, condor / "done", results):
        directory.mkdir(parents=True)
    monkeypatch.chdir(sandbox)
    events, training = results / "events.hdf5", results / "training"
    Path(output_name(str(events))).parent.mkdir()
    Path(output_name(str(events))).write_bytes(b"events" * 100)
    Path(output_name(str(training)), "model.pt").parent.mkdir()
    Path(output_name(str(training)), "model.pt").write_bytes(b"weights")
    write_done_marker(MARKER, "infer-0000", [output_name(str(events)), f"{output_name(str(training))}/model.pt"],
                      HASH)
    shutil.copy(output_name(str(events)), events)  # HTCondor's transfer_output_remaps, which keep no mtime
    shutil.copytree(output_name(str(training)), training)
    shutil.copy(MARKER, condor / landed_marker_name("infer-0000"))
    return condor, [str(events), str(training)]


def post(condor, returned, roots):
    with pytest.raises(SystemExit) as exited:
        main(["--landed", str(condor), "infer-0000", HASH, str(returned), *roots])
    return exited.value.code


def test_outputs_that_came_back_whole_become_the_done_marker(landed):
    condor, roots = landed
    assert post(condor, 0, roots) == 0
    record = json.loads(marker_path(condor, "infer-0000").read_text())
    assert [output["path"] for output in record["outputs"]] == [roots[0], f"{roots[1]}/model.pt"]
    assert not (condor / landed_marker_name("infer-0000")).exists()
    assert why_not_done(condor, "infer-0000", HASH) is None  # the PRE script skips it from now on
    assert why_not_done(condor, "infer-0000", HASH, content=False) is None  # and status reads it as done


def test_an_output_that_came_back_different_fails_the_node_and_writes_no_marker(landed, capsys):
    condor, roots = landed
    Path(roots[0]).write_bytes(b"EVENTS" * 100)  # same size, other bytes
    assert post(condor, 0, roots) == 1
    assert "came back different from what the node wrote" in capsys.readouterr().err
    assert not marker_path(condor, "infer-0000").exists()


@pytest.mark.parametrize("returned", [2, 1, -9])
def test_a_failed_job_keeps_its_exit_code_and_leaves_no_marker(landed, returned):
    condor, roots = landed
    assert post(condor, returned, roots) == (returned if returned > 0 else 1)
    assert not marker_path(condor, "infer-0000").exists()
    assert not (condor / landed_marker_name("infer-0000")).exists()


def test_a_job_whose_marker_did_not_come_back_is_not_done(landed, capsys):
    condor, roots = landed
    (condor / landed_marker_name("infer-0000")).unlink()
    assert post(condor, 0, roots) == 1
    assert "done-marker did not come back" in capsys.readouterr().err


def test_an_output_outside_the_remaps_is_refused(landed, capsys):
    condor, roots = landed
    assert post(condor, 0, roots[:1]) == 1
    assert "which no transfer_output_remaps brings back" in capsys.readouterr().err
