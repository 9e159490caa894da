"""The remote path end to end from a BUILT DAG (issue 12): the micro config with its training data and run dir on
the local S3 server and ``[train] remote = kubernetes``. The data nodes that feed training run through the local
executor and upload to S3 with only the environment the plan gives them; the remote-train node then drives the
fake Kubernetes API, whose pod really runs ``aframe-train --run-dir s3://...``; export reads ``model.pt`` from S3.
Meanwhile AWS_SECRET_ACCESS_KEY holds a marker that must appear nowhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aframe_dag.check import check_run
from aframe_dag.dagfile import parse_dag
from aframe_dag.init.init import run_directories
from executables.common import storage
from tests.executables.remote.remote_dag import BIN, MARKER, files_containing, node_arguments, option_values

DATA = Path(__file__).resolve().parents[2] / "data"
pytestmark = pytest.mark.slow  # about two minutes on 2 cores


def _parents(condor_dir: Path) -> dict[str, list[str]]:
    return parse_dag((condor_dir / "aframe.dag").read_text(), condor_dir / "aframe.dag", []).parents


def _ancestors(condor_dir: Path, node: str) -> list[str]:
    """Every node ``node`` depends on, from the DAG's PARENT/CHILD lines."""
    parents = _parents(condor_dir)
    found, todo = set(), [node]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return sorted(found)


def _waves(condor_dir: Path, nodes: list[str]) -> list[list[str]]:
    """``nodes`` in waves that each follow every parent among them: `run --only` starts the nodes it is given without
    waiting for each other, so only one wave at a time may run two nodes at once."""
    parents, left, waves = _parents(condor_dir), set(nodes), []
    while left:
        waves.append(sorted(node for node in left if not left.intersection(parents.get(node, ()))))
        left.difference_update(waves[-1])
    return waves


def _run(condor_dir: Path, env: dict[str, str], *nodes: str) -> subprocess.CompletedProcess:
    only = [word for node in nodes for word in ("--only", node)]
    result = subprocess.run([BIN / "aframe-dag", "run", condor_dir, "--workers", "2", *only], env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr + _node_logs(condor_dir)
    return result


def _node_logs(condor_dir: Path) -> str:
    logs = sorted((condor_dir / "logs").glob("*.err"))
    return "".join(f"\n--- {path.name}\n{path.read_text()[-3000:]}" for path in logs)


def test_a_built_s3_dag_trains_on_kubernetes_from_the_data_it_uploaded(tmp_path, s3_server, s3_bucket, fake_kube,
                                                                        monkeypatch):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_SECRET_ACCESS_KEY=MARKER, AWS_ACCESS_KEY_ID="AKIALEAKMARKER000000")
    env.update(run_directories(tmp_path / "run", f"s3://{s3_bucket}/micro"))
    config = yaml.safe_load((DATA / "train_micro.yaml").read_text())
    config["data"]["batches_per_epoch"], config["trainer"]["max_epochs"] = 2, 1  # seconds, not minutes
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    shutil.copy(DATA / "micro.ini", tmp_path / "micro.ini")
    overrides = {
        "train.remote": "kubernetes", "s3.endpoint_url": s3_server.endpoint_url,
        "s3.credentials_file": str(s3_server.credentials_file), "s3.profile": s3_server.profile,
        "kubernetes.image": "ghcr.io/ml4gw/aframe-dag:test", "kubernetes.kubeconfig": str(
            fake_kube.kubeconfig(tmp_path / "kubeconfig")), "kubernetes.cpus": "2", "kubernetes.memory": "2GB",
        "kubernetes.gpu_memory": "16GB", "kubernetes.service_account": "aframe-train",
    }
    sets = [word for key, value in overrides.items() for word in ("--set", f"{key}={value}")]
    built = subprocess.run([BIN / "aframe-dag", "build", tmp_path / "micro.ini", *sets], env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    condor_dir = Path(env["AFRAME_CONDOR_DIR"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MARKER)  # check looks for this value in every file too
    assert check_run(condor_dir, submittable=False, htcondor_tools=False) == []  # no secret rendered, among others

    # the plan: S3 locations and credential paths in every job's environment, the launcher's placement options
    background_sub = (condor_dir / "background.sub").read_text()
    for item in (f"AWS_SHARED_CREDENTIALS_FILE={s3_server.credentials_file}", f"AWS_PROFILE={s3_server.profile}",
                 f"AWS_ENDPOINT_URL={s3_server.endpoint_url}", f"MPLCONFIGDIR={env['AFRAME_TMPDIR']}/matplotlib"):
        assert item in background_sub
    arguments = node_arguments(condor_dir, "remote-train")
    assert option_values(arguments, "--gpu-memory") == ["16384"]
    assert option_values(arguments, "--service-account") == ["aframe-train"]
    run_dir = option_values(arguments, "--run-dir")[0]
    assert run_dir == f"s3://{s3_bucket}/micro/training"

    # the data nodes that feed training upload their outputs to S3
    data_nodes = _ancestors(condor_dir, "remote-train")
    assert data_nodes and all(node.startswith(("background-train", "waveforms")) for node in data_nodes)
    for wave in _waves(condor_dir, data_nodes):
        _run(condor_dir, env, *wave)
    inputs = option_values(arguments, "--waveforms") + option_values(arguments, "--validation") + \
        option_values(arguments, "--background")
    s3 = s3_server.client()
    assert all(storage.exists(url, s3=s3) for url in inputs)
    for node in data_nodes:
        marker = json.loads((condor_dir / "done" / f"{node}.json").read_text())
        assert all(output["path"].startswith("s3://") and output["etag"] for output in marker["outputs"])

    # remote-train: the Job's pod trains from S3 into the S3 run dir, model.pt last
    fake_kube.scenario = "execute"
    _run(condor_dir, env, "remote-train")
    job = fake_kube.get("jobs", "aframe", "aframe-micro-train")
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aframe-train"
    assert "nvidia.com/gpu.memory" in json.dumps(pod["affinity"])
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket, Prefix="micro/training/")["Contents"]}
    assert {f"micro/training/{name}" for name in ("model.pt", "last.ckpt", "best.ckpt", "batch.hdf5",
                                                  "metrics.csv", "training.png")} <= keys
    marker = json.loads((condor_dir / "done" / "remote-train.json").read_text())
    assert marker["outputs"][0]["path"] == f"{run_dir}/model.pt"
    assert fake_kube.names("secrets") == []

    # export reads the S3 model transparently
    _run(condor_dir, env, "export")
    repository = Path(env["AFRAME_RESULTS_DIR"]) / "model_repo"
    assert (repository / "aframe" / "config.pbtxt").is_file()
    assert next((repository / "aframe").glob("*/model.onnx")).stat().st_size > 0

    assert files_containing(tmp_path / "run", MARKER) == []
    objects = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert all(MARKER.encode() not in s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read() for key in objects)
