"""Tests for executables/common/markers.py: the done-marker the stdlib-only PRE script reads."""

import hashlib
import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from executables.common.markers import read_done_marker, write_done_marker

REPO = Path(__file__).resolve().parents[3]


def test_marker_records_outputs_and_identity(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("background.hdf5").write_bytes(b"x" * 10)
    Path("model/sub").mkdir(parents=True)
    Path("model/a.onnx").write_bytes(b"y" * 3)
    Path("model/sub/b.txt").write_bytes(b"z" * 4)
    marker = tmp_path / "condor" / "done" / "train.json"

    record = write_done_marker(marker, "train", ["background.hdf5", Path("model")], "abc123", {"epochs": 3})

    assert read_done_marker(marker) == record
    background, model = Path("background.hdf5").stat(), Path("model/sub/b.txt").stat()
    model_digest = hashlib.sha1(b"a.onnx\0yyysub/b.txt\0zzzz").hexdigest()
    assert record["outputs"] == [
        {"path": str(tmp_path / "background.hdf5"), "size": 10, "mtime_ns": background.st_mtime_ns,
         "sha1": hashlib.sha1(b"x" * 10).hexdigest()},
        {"path": str(tmp_path / "model"), "size": 7, "files": 2, "sha1": model_digest,
         "mtime_ns": max(model.st_mtime_ns, Path("model/a.onnx").stat().st_mtime_ns)},
    ]
    assert (record["node"], record["hash"], record["host"], record["epochs"]) == (
        "train",
        "abc123",
        socket.gethostname(),
        3,
    )
    finished = datetime.strptime(record["finished"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - finished) < timedelta(minutes=1)
    assert marker.read_text() == json.dumps(record, sort_keys=True, indent=1) + "\n"
    assert sorted(p.name for p in marker.parent.iterdir()) == ["train.json"]


def test_missing_output_is_a_bug_and_writes_no_marker(tmp_path):
    marker = tmp_path / "done" / "n.json"
    with pytest.raises(RuntimeError, match="does not exist"):
        write_done_marker(marker, "n", [tmp_path / "never-written.hdf5"], "h")
    assert not marker.exists()


def test_extra_cannot_overwrite_marker_fields(tmp_path):
    with pytest.raises(ValueError, match="hash"):
        write_done_marker(tmp_path / "n.json", "n", [], "h", {"hash": "forged"})


@pytest.mark.parametrize("text", [None, "{not json", "[1, 2]", ""])
def test_unreadable_marker_means_not_done(tmp_path, text):
    marker = tmp_path / "n.json"
    if text is not None:
        marker.write_text(text)
    assert read_done_marker(marker) is None


def test_module_is_stdlib_only():
    """aframe-node-check reads the same format on an access point without numpy, click or torch."""
    code = (
        "import sys, executables.common.markers; "
        "print(sorted(m for m in ('numpy', 'click', 'h5py', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
