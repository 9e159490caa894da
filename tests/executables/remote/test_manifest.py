"""The Job, Secret and ConfigMap manifests: valid against the Kubernetes API schema, and carrying no secret values."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from executables.common.errors import InputError, PermanentError
from executables.remote.manifest import (
    TrainingJob,
    config_map_manifest,
    job_manifest,
    profile_credentials,
    redacted,
    secret_manifest,
)

VERSION = kubernetes_validate.latest_version()
OWNER = {"metadata": {"name": "aframe-run-train", "uid": "7d0c6d1e-0000-4000-8000-000000000001"}}


def training_job(**overrides) -> TrainingJob:
    values = dict(name="aframe-run-train", namespace="ml4gw", image="ghcr.io/ml4gw/aframe:1",
                  train_arguments=("--config", "/var/run/aframe/config/train.yaml", "--run-dir", "s3://b/run"),
                  run_dir="s3://b/run", gpus=2, cpus=16, memory="65536Mi", gpu_product="NVIDIA-A100-SXM4-80GB",
                  gpu_memory=15360, service_account="trainer", timeout=3600, s3_endpoint="https://s3.example.org",
                  profile="nautilus", config="/home/me/run/train.yaml")
    values.update(overrides)
    return TrainingJob(**values)


@pytest.mark.parametrize("job", [training_job(), training_job(gpu_product=None, gpu_memory=None, gpus=0,
                                                              service_account=None, config=None, s3_endpoint=None)])
def test_manifests_are_valid_kubernetes_objects(job):
    manifests = [job_manifest(job), secret_manifest(job, "[p]\naws_access_key_id = a\n", OWNER),
                 config_map_manifest(job, "a: 1\n", OWNER)]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, VERSION, strict=True)


def test_job_places_the_pod_and_keeps_the_exit_code_contract():
    spec = job_manifest(training_job())["spec"]
    pod = spec["template"]["spec"]
    expressions = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"]
    assert expressions == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]},
        {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["15359"]},
    ]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "16", "memory": "65536Mi", "nvidia.com/gpu": "2"}
    assert container["command"][0] == "aframe-train"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/var/run/aframe/s3/credentials"
    assert (env["AWS_PROFILE"], env["AWS_ENDPOINT_URL"]) == ("nautilus", "https://s3.example.org")
    assert not {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"} & env.keys()
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "trainer"
    assert spec["activeDeadlineSeconds"] == 3600
    rules = {(rule["action"], json.dumps(rule.get("onExitCodes", rule.get("onPodConditions")))) for rule in
             spec["podFailurePolicy"]["rules"]}
    assert ("FailJob", json.dumps({"containerName": "train", "operator": "In", "values": [2]})) in rules
    assert ("Ignore", json.dumps({"containerName": "train", "operator": "In", "values": [85]})) in rules
    assert ("Ignore", json.dumps([{"type": "DisruptionTarget"}])) in rules


def test_spec_hash_follows_the_arguments():
    same = job_manifest(training_job())["metadata"]["annotations"]
    assert job_manifest(training_job())["metadata"]["annotations"] == same
    assert job_manifest(training_job(cpus=8))["metadata"]["annotations"] != same


def test_secret_and_config_are_owned_by_the_job():
    secret = secret_manifest(training_job(), "text", OWNER)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == OWNER["metadata"]["uid"]
    assert redacted(secret)["stringData"] == {"credentials": "<from the credentials file>"}
    assert secret["stringData"] == {"credentials": "text"}  # redacted() copies, never edits
    assert redacted(config_map_manifest(training_job(), "x"))["data"] == {"train.yaml": "x"}


@pytest.mark.parametrize("name", ["Aframe-Run-train", "aframe_run_train", "-x", "a" * 64])
def test_bad_job_names_are_refused(name):
    with pytest.raises(PermanentError, match="Job name"):
        training_job(name=name)


def test_empty_image_is_refused():
    with pytest.raises(PermanentError, match=r"\[kubernetes\] image"):
        training_job(image="")


def test_profile_credentials_copies_one_profile(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n"
                    "[nautilus]\naws_access_key_id = N\naws_secret_access_key = n\nregion = x\n")
    assert profile_credentials(path, "nautilus") == "[nautilus]\naws_access_key_id = N\naws_secret_access_key = n\n"
    with pytest.raises(InputError, match="no such profile") as info:
        profile_credentials(path, "other")
    assert str(path) in str(info.value)
    with pytest.raises(InputError, match="cannot read"):
        profile_credentials(tmp_path / "missing", "default")
    path.write_text("[half]\naws_access_key_id = H\n")
    with pytest.raises(InputError, match="lacks aws_secret_access_key"):
        profile_credentials(path, "half")
