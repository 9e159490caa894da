"""The Triton test virtualenv (``make .venv-triton/.installed``: pytriton needs numpy<2) and what runs from it.

Shared by the infer tests and the end-to-end DAG test: where its Python is, the environment pytriton's bundled
server needs, and a ``tritonserver`` wrapper that turns into a real (pytriton, CPU) Triton on the ports it is given.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FAKE = HERE / "fake_tritonserver.py"
TRITON_PYTHON = HERE.parents[2] / ".venv-triton" / "bin" / "python"
MISSING = f"no Triton virtualenv at {TRITON_PYTHON.parent.parent} (make .venv-triton/.installed)"
needs_triton = pytest.mark.skipif(not TRITON_PYTHON.is_file(), reason=MISSING)


def library_directory() -> str:
    """pytriton's bundled server links against the Python library: the directory LD_LIBRARY_PATH must name."""
    return subprocess.run([str(TRITON_PYTHON), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def triton_environment() -> dict[str, str]:
    """This process's LD_LIBRARY_PATH with the Triton venv's Python library directory in front."""
    return {"LD_LIBRARY_PATH": ":".join(filter(None, [library_directory(), os.environ.get("LD_LIBRARY_PATH")]))}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pytriton_wrapper(path: Path, record: Path) -> Path:
    """An executable ``tritonserver`` at ``path`` that sets its own environment (a node's environment is only what
    its submit file gives) and execs the stand-in in pytriton mode, which records each start in ``record``."""
    path.write_text("#!/bin/sh\n"
                    f'export LD_LIBRARY_PATH="{library_directory()}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"\n'
                    f'export FAKE_TRITON_MODE=pytriton FAKE_TRITON_PYTHON="{TRITON_PYTHON}" '
                    f'FAKE_TRITON_RECORD="{record}"\n'
                    f'exec "{TRITON_PYTHON}" "{FAKE}" "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path
