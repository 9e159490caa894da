"""Running `aframe-dag` as a user does, for the init tests: the installed console script, its exit code and output."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

AFRAME_DAG = shutil.which("aframe-dag", path=str(Path(sys.executable).parent)) or "aframe-dag"


def aframe_dag(*args):
    return subprocess.run([AFRAME_DAG, *map(str, args)], capture_output=True, text=True, env=dict(os.environ))


def assert_user_error(result, *words):
    assert result.returncode == 2, result
    assert result.stderr.startswith("aframe-dag: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert all(word in result.stderr for word in words), result.stderr


def not_mapped(result) -> list[str]:
    """The `not mapped:` lines init printed, without that prefix."""
    return [line.removeprefix("not mapped: ") for line in result.stdout.splitlines() if line.startswith("not mapped: ")]
