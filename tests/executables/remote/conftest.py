"""Fixtures of the remote-training tests: the fake Kubernetes API and the arguments the plan gives the node."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from executables.common import storage
from tests.executables.remote.fake_kube import FakeKube

PROGRAM = str(Path(sys.executable).with_name("aframe-remote-train"))


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A fresh fake Kubernetes API server on localhost."""
    server = FakeKube()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def remote_run(tmp_path, s3_server, s3_bucket, fake_kube):
    """A callable running aframe-remote-train as the DAG does, with its S3 inputs already uploaded."""
    s3 = s3_server.client()
    data = f"s3://{s3_bucket}/run/data/train"
    inputs = {"waveforms": f"{data}/train_waveforms.hdf5", "validation": f"{data}/val_waveforms.hdf5",
              "background": f"{data}/background/background-0-100.hdf5"}
    for url in inputs.values():
        local = tmp_path / Path(url).name
        local.write_bytes(b"data of " + url.encode())
        storage.upload(local, url, s3=s3)
    config = tmp_path / "train.yaml"
    config.write_text("trainer:\n  max_epochs: 2\n")
    kubeconfig = fake_kube.kubeconfig(tmp_path / "kubeconfig")

    def command(*extra: str, env: dict[str, str] | None = None, timeout: int = 10) -> tuple[list[str], dict]:
        arguments = [
            "--config", str(config), "--waveforms", inputs["waveforms"], "--validation", inputs["validation"],
            "--ifos", "H1,L1", "--sample-rate", "2048", "--highpass", "32", "--fduration", "1",
            "--kernel-length", "1.5", "--inference-sampling-rate", "4", "--seed", "101", "--device", "cuda",
            "--checkpoint-minutes", "30", "--background", inputs["background"],
            "--run-dir", f"s3://{s3_bucket}/run/training", "--job-name", "aframe-sandbox-train",
            "--image", "ghcr.io/ml4gw/aframe-dag:test", "--kubeconfig", str(kubeconfig), "--gpus", "1",
            "--cpus", "4", "--memory", "16384Mi", "--gpu-product", "NVIDIA-A100-SXM4-80GB",
            "--timeout", str(timeout), "--s3-endpoint", s3_server.endpoint_url,
            "--credentials-file", str(s3_server.credentials_file), "--profile", s3_server.profile,
            "--poll-interval", "0.1", "--node", "remote-train", "--node-hash", "h",
            "--done-marker", str(tmp_path / "condor" / "done" / "remote-train.json"), *extra,
        ]
        environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environment.update(env or {})
        return [PROGRAM, *arguments], environment

    def run(*extra: str, env: dict[str, str] | None = None, timeout: int = 10) -> subprocess.CompletedProcess:
        argv, environment = command(*extra, env=env, timeout=timeout)
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=environment)

    def start(*extra: str, timeout: int = 60) -> subprocess.Popen:
        argv, environment = command(*extra, timeout=timeout)
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)

    run.start = start
    run.bucket = s3_bucket
    run.marker = tmp_path / "condor" / "done" / "remote-train.json"
    run.s3 = s3
    return run
