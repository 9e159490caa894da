"""Build the DAG of an ``init sandbox --s3-bucket`` run pointed at the local S3 server and the fake Kubernetes API."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from aframe_dag.init.inifile import set_value

BIN = Path(sys.executable).parent
#: What the leak tests put in AWS_SECRET_ACCESS_KEY: it must never be found anywhere.
MARKER = "LEAK-MARKER-aws-secret-7f3c9e1d2b"


def run_environment(run_sh: Path) -> dict[str, str]:
    """The AFRAME_* directories that ``source run.sh`` would export."""
    return dict(re.findall(r"^export (AFRAME_\w+)=(.*)$", run_sh.read_text(), re.MULTILINE))


def build(directory: Path, bucket: str, s3_server, kubeconfig: Path, env: dict[str, str]) -> Path:
    """init + configure + build; returns the condor dir. ``env`` is the environment every command runs with."""
    subprocess.run([BIN / "aframe-dag", "init", "sandbox", "--s3-bucket", f"s3://{bucket}/run", "--directory",
                    directory, "--site", "local", "--device", "cpu", "--tiny"], check=True, env=env,
                   capture_output=True)
    run_ini = directory / "run.ini"
    text = run_ini.read_text()
    for section, key, value in (("s3", "endpoint_url", s3_server.endpoint_url),
                                ("s3", "credentials_file", str(s3_server.credentials_file)),
                                ("s3", "profile", s3_server.profile),
                                ("kubernetes", "image", "ghcr.io/ml4gw/aframe-dag:test"),
                                ("kubernetes", "kubeconfig", str(kubeconfig))):
        text = set_value(text, section, key, value)
    run_ini.write_text(text)
    environment = {**env, **run_environment(directory / "run.sh")}
    built = subprocess.run([BIN / "aframe-dag", "build", run_ini], env=environment, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return Path(environment["AFRAME_CONDOR_DIR"])


def node_arguments(condor_dir: Path, node: str) -> list[str]:
    """The arguments the DAG gives ``node`` (its ``nodeargs`` VARS)."""
    for line in (condor_dir / "aframe.dag").read_text().splitlines():
        if line.startswith(f"VARS {node} "):
            return shlex.split(re.search(r'nodeargs="(.*)"', line)[1])
    raise AssertionError(f"no VARS line for {node}")


def option_values(arguments: list[str], option: str) -> list[str]:
    return [arguments[i + 1] for i, item in enumerate(arguments) if item == option]


def files_containing(root: Path, text: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``text``."""
    needle = text.encode()
    found = []
    for top, _, names in os.walk(root):
        for name in names:
            path = Path(top, name)
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found
