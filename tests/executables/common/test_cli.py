"""Tests for executables/common/cli.py: a node body under the contract, through click and as a real process."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from executables.common.cli import not_implemented
from tests.executables.common.example_node import main

pytestmark = pytest.mark.usefixtures("restore_logging")

REPO = Path(__file__).resolve().parents[3]


def invoke(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args], prog_name="aframe-example")


def test_success_writes_output_and_marker(tmp_path):
    out, marker = tmp_path / "out.hdf5", tmp_path / "done" / "example-001.json"
    result = invoke("--out", out, "--done-marker", marker, "--node", "example-1", "--node-hash", "h1")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == b"payload"
    record = json.loads(marker.read_text())
    assert (record["node"], record["hash"], record["outputs"]) == (
        "example-1",
        "h1",
        [{"path": str(out), "size": 7, "mtime_ns": out.stat().st_mtime_ns,
          "sha1": hashlib.sha1(b"payload").hexdigest()}],
    )
    lines = result.stderr.splitlines()
    assert re.search(r"INFO aframe-example: start: .+", lines[0])
    assert re.search(r"INFO aframe-example: exit 0 after \d+\.\ds$", lines[-1])


def test_node_name_defaults_to_marker_stem(tmp_path):
    marker = tmp_path / "done" / "example-007.json"
    result = invoke("--out", tmp_path / "o", "--done-marker", marker, "--node-hash", "h")
    assert result.exit_code == 0, result.stderr
    assert json.loads(marker.read_text())["node"] == "example-007"


def test_success_without_marker(tmp_path):
    result = invoke("--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_marker_needs_a_hash(tmp_path):
    result = invoke("--out", tmp_path / "o", "--done-marker", tmp_path / "m.json")
    assert result.exit_code == 2
    assert "--done-marker needs --node-hash" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_input_error_is_one_line_and_permanent(tmp_path):
    out, marker = tmp_path / "o", tmp_path / "m.json"
    result = invoke("--out", out, "--mode", "input-error", "--done-marker", marker, "--node-hash", "h")
    assert result.exit_code == 2
    assert f"ERROR aframe-example: {out}: strain/H1: dataset missing\n" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_bad_parameter_raised_by_the_body_is_permanent(tmp_path):
    result = invoke("--out", tmp_path / "o", "--mode", "bad-parameter")
    assert result.exit_code == 2
    assert "ERROR aframe-example: Invalid value for '--device': cuda requested but no CUDA" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_adds_the_traceback(tmp_path):
    result = invoke("--out", tmp_path / "o", "--mode", "input-error", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "InputError" in result.stderr


@pytest.mark.parametrize(
    ("mode", "code", "traceback"),
    [
        ("transient", 1, False),
        ("crash", 1, True),
        ("missing-input", 2, True),
        ("missing-output", 1, True),
        ("single-path", 1, True),
        ("checkpoint", 85, False),
    ],
)
def test_failures_map_to_exit_codes_and_write_no_marker(tmp_path, mode, code, traceback):
    marker = tmp_path / "m.json"
    result = invoke("--out", tmp_path / "o", "--mode", mode, "--done-marker", marker, "--node-hash", "h")
    assert result.exit_code == code
    assert ("Traceback" in result.stderr) == traceback
    assert f"exit {code} after" in result.stderr
    assert not marker.exists()


def test_help_lists_the_contract_options():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in ("--out", "--done-marker", "--node", "--node-hash", "--verbose", "-v", "--debug"):
        assert option in result.stdout


@pytest.mark.parametrize("args", [[], ["--out", "x", "positional"], ["--help"]])
def test_not_implemented(args):
    result = CliRunner().invoke(not_implemented("aframe-train", 7), args)
    assert result.exit_code == 2
    assert result.stderr == "aframe-train: not implemented yet (issue 7)\n"


@pytest.mark.parametrize(
    ("mode", "code"), [("ok", 0), ("input-error", 2), ("transient", 1), ("crash", 1), ("checkpoint", 85)]
)
def test_exit_codes_of_a_real_process(tmp_path, mode, code):
    marker = tmp_path / "m.json"
    command = [sys.executable, "-m", "tests.executables.common.example_node", "--out", str(tmp_path / "o")]
    command += ["--mode", mode, "--done-marker", str(marker), "--node-hash", "h"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == code, result.stderr
    assert marker.exists() == (code == 0)
    assert result.stdout == ""
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.match(stamp + " INFO python -m tests.executables.common.example_node: start: ", result.stderr)


def test_a_failing_node_still_leaves_its_marker_directory_for_file_transfer(tmp_path):
    """Without a shared filesystem the marker's directory is what the job sends back: HTCondor holds a job whose
    transfer_output_files item is missing, so the directory must exist even when the node fails."""
    marker = tmp_path / "aframe-out" / "aframe-done.json"
    result = invoke("--out", tmp_path / "aframe-out" / "o", "--mode", "input-error", "--done-marker", marker,
                    "--node-hash", "h")
    assert result.exit_code == 2
    assert marker.parent.is_dir() and not marker.exists()
