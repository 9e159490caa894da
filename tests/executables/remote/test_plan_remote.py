"""What the plan gives a run with S3 directories: the launcher's placement options and every job's environment."""

from __future__ import annotations

import shutil
from importlib import resources

import pytest

from aframe_dag.config import load_config
from aframe_dag.errors import ConfigError
from aframe_dag.init.init import run_directories
from aframe_dag.plan import plan

CONFIGS = resources.files("aframe_dag") / "configs"
REMOTE = ["train.remote=kubernetes", "kubernetes.image=ghcr.io/ml4gw/aframe-dag:test"]


@pytest.fixture
def s3_ini(tmp_path, monkeypatch):
    for variable, value in run_directories(tmp_path, "s3://bucket/run").items():
        monkeypatch.setenv(variable, value)
    shutil.copy(CONFIGS / "train.yaml", tmp_path / "train.yaml")
    (tmp_path / "run.ini").write_text((CONFIGS / "sandbox.ini").read_text().replace("site = ldg", "site = local"))
    return tmp_path / "run.ini"


def _arguments(workflow, stage: str) -> list[str]:
    return list(next(node for node in workflow.nodes if node.stage == stage).arguments)


def _value(arguments: list[str], option: str) -> str | None:
    return arguments[arguments.index(option) + 1] if option in arguments else None


def test_gpu_memory_and_service_account_reach_the_launcher_only_when_set(s3_ini):
    arguments = _arguments(plan(load_config(s3_ini, REMOTE)), "remote-train")
    assert "--gpu-memory" not in arguments and "--service-account" not in arguments
    workflow = plan(load_config(s3_ini, REMOTE + ["kubernetes.gpu_memory=16GB", "kubernetes.service_account=aframe"]))
    arguments = _arguments(workflow, "remote-train")
    assert _value(arguments, "--gpu-memory") == "16384" and _value(arguments, "--service-account") == "aframe"


def test_every_job_of_an_s3_run_gets_credential_paths_and_a_matplotlib_dir(s3_ini, tmp_path):
    config = load_config(s3_ini, ["s3.credentials_file=/home/me/.aws/credentials", "s3.profile=nautilus",
                                  "s3.endpoint_url=https://s3-west.nrp-nautilus.io"])
    for stage in plan(config).stages.values():
        environment = stage.environment
        assert environment["AWS_SHARED_CREDENTIALS_FILE"] == "/home/me/.aws/credentials"
        assert environment["AWS_PROFILE"] == "nautilus"
        assert environment["AWS_ENDPOINT_URL"] == "https://s3-west.nrp-nautilus.io"
        assert environment["MPLCONFIGDIR"] == f"{tmp_path}/tmp/matplotlib"
        assert environment["OMP_NUM_THREADS"] == str(stage.request_cpus)
        assert not {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"} & environment.keys()


def test_a_local_run_gets_no_aws_environment(s3_ini, tmp_path, monkeypatch):
    for variable, value in run_directories(tmp_path, None).items():
        monkeypatch.setenv(variable, value)
    for stage in plan(load_config(s3_ini)).stages.values():
        assert not [name for name in stage.environment if name.startswith("AWS_")]
        assert stage.environment["MPLCONFIGDIR"] == f"{tmp_path}/tmp/matplotlib"


def test_a_tune_study_needs_a_local_train_run_dir(s3_ini):
    with pytest.raises(ConfigError, match="tune trials train in local run dirs") as caught:
        plan(load_config(s3_ini, ["tune.enabled=true", "tune.space=optimizer.learning_rate: uniform(0.0001, 0.01)"]))
    assert (caught.value.section, caught.value.key) == ("tune", "enabled")
