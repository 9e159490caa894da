"""`aframe-remote-train` against the fake Kubernetes API (real client, real HTTP) and the local S3 server."""

from __future__ import annotations

import json
import time

from tests.fixtures.s3 import SECRET_KEY

NS, JOB = "aframe", "aframe-sandbox-train"


def test_success_leaves_model_and_marker_and_cleans_the_secret(remote_run, fake_kube):
    result = remote_run()
    assert result.returncode == 0, result.stderr
    model = f"s3://{remote_run.bucket}/run/training/model.pt"
    body = remote_run.s3.get_object(Bucket=remote_run.bucket, Key="run/training/model.pt")["Body"].read()
    assert body.startswith(b"torchscript model from aframe-sandbox-train-")
    outputs = json.loads(remote_run.marker.read_text())["outputs"]
    assert [item["path"] for item in outputs] == [model] and outputs[0]["size"] == len(body)
    # the pod's log reached the node's stderr, prefixed with the pod's name
    assert "] epoch 2: training" in result.stderr and f"wrote s3://{remote_run.bucket}/run/training" in result.stderr
    # the secret held one profile of the credentials file and is gone now; the Job stays for its TTL
    assert fake_kube.names("secrets") == [] and fake_kube.names("configmaps") == []
    assert fake_kube.names("jobs") == [JOB]
    credentials = fake_kube.secrets_seen[0]["stringData"]["credentials"]
    assert credentials.startswith("[aframe-test]\n") and "wrong-keys" not in credentials
    assert SECRET_KEY not in result.stderr + result.stdout


def test_job_spec_carries_paths_not_secrets(remote_run, fake_kube):
    assert remote_run().returncode == 0
    job = fake_kube.get("jobs", NS, JOB)
    container = job["spec"]["template"]["spec"]["containers"][0]
    command = container["command"]
    assert command[:3] == ["aframe-train", "--config", "/var/run/aframe/config/train.yaml"]
    assert command[command.index("--run-dir") + 1] == f"s3://{remote_run.bucket}/run/training"
    assert command[command.index("--device") + 1] == "cuda"
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16384Mi", "nvidia.com/gpu": "1"}
    affinity = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["NVIDIA-A100-SXM4-80GB"]
    assert SECRET_KEY not in json.dumps(job)


def test_timeout_deletes_the_job_and_is_transient(remote_run, fake_kube):
    fake_kube.scenario = "hang"
    result = remote_run(timeout=2)
    assert result.returncode == 1 and "did not finish within --timeout 2 s" in result.stderr
    assert fake_kube.names("jobs") == [] and fake_kube.names("pods") == [] and fake_kube.names("secrets") == []


def test_retried_node_adopts_the_running_job(remote_run, fake_kube):
    fake_kube.scenario = "hang"
    lost = remote_run.start()
    deadline = time.monotonic() + 60
    while not fake_kube.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    lost.kill()  # the node's first attempt is lost (its machine died): the Job runs on
    lost.communicate(timeout=30)
    assert fake_kube.running() and fake_kube.names("secrets") == ["aframe-sandbox-train-s3"]
    before = fake_kube.count("GET", "jobs")
    retry = remote_run.start()
    while fake_kube.count("GET", "jobs") < before + 2:  # the retry is waiting on the Job now
        time.sleep(0.05)
    fake_kube.release()
    _, stderr = retry.communicate(timeout=60)
    assert retry.returncode == 0, stderr
    assert "adopting the running Job aframe/aframe-sandbox-train" in stderr, stderr
    assert fake_kube.count("POST", "jobs") == 1  # never a second Job
    assert fake_kube.names("secrets") == []


def test_finished_job_is_adopted_without_a_new_one(remote_run, fake_kube):
    assert remote_run().returncode == 0
    again = remote_run()
    assert again.returncode == 0, again.stderr
    assert "adopting the finished Job" in again.stderr
    assert fake_kube.count("POST", "jobs") == 1


def test_failed_program_is_permanent_with_its_reason(remote_run, fake_kube):
    fake_kube.scenario = "fail"
    result = remote_run()
    assert result.returncode == 2, result.stderr
    assert "PodFailurePolicy" in result.stderr and "exited 2" in result.stderr
    assert "waveforms/plus: missing dataset" in result.stderr
    assert not remote_run.marker.exists() and fake_kube.names("secrets") == []
    fake_kube.scenario = "succeed"  # a rerun replaces the failed Job
    assert remote_run().returncode == 0
    assert fake_kube.count("POST", "jobs") == 2


def test_oom_and_eviction_are_transient(remote_run, fake_kube):
    for scenario, words in (("oom", "OOMKilled"), ("evict", "Evicted")):
        fake_kube.scenario = scenario
        result = remote_run()
        assert result.returncode == 1, result.stderr
        assert words in result.stderr and "disrupted" in result.stderr
        assert not remote_run.marker.exists()


def test_preempted_pod_is_replaced_and_both_logs_stream(remote_run, fake_kube):
    fake_kube.scenario = "preempt"
    result = remote_run()
    assert result.returncode == 0, result.stderr
    pods = {line.split("]")[0] for line in result.stderr.splitlines() if line.startswith("[aframe-sandbox-train-")}
    assert len(pods) == 2
    assert "node preempted" in result.stderr


def test_rejections_by_the_api_are_permanent(remote_run, fake_kube):
    fake_kube.job_quota = 0
    quota = remote_run()
    assert quota.returncode == 2
    assert "rejected Job aframe-sandbox-train: Forbidden" in quota.stderr and "exceeded quota" in quota.stderr
    fake_kube.job_quota = None
    invalid = remote_run("--memory", "lots")
    assert invalid.returncode == 2
    assert "Invalid" in invalid.stderr and "lots" in invalid.stderr
    assert fake_kube.names("jobs") == [] and fake_kube.names("secrets") == []


def test_bad_inputs_fail_before_any_job(remote_run, fake_kube, tmp_path):
    missing = remote_run("--background", f"s3://{remote_run.bucket}/run/data/train/background/missing.hdf5")
    assert missing.returncode == 2 and "missing.hdf5: no such object on S3" in missing.stderr
    creds = tmp_path / "creds"
    creds.write_text("[other]\naws_access_key_id = a\naws_secret_access_key = b\n")
    profile = remote_run("--credentials-file", str(creds))
    assert profile.returncode == 2 and "no such profile" in profile.stderr
    malformed = remote_run("--run-dir", "s3://bad bucket/x")
    assert malformed.returncode == 2 and "malformed s3:// URL" in malformed.stderr
    assert fake_kube.count("POST", "jobs") == 0


def test_unreachable_services_are_transient(remote_run, fake_kube, tmp_path):
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "u"}}]}))
    api = remote_run("--kubeconfig", str(dead))
    assert api.returncode == 1 and "cannot reach the Kubernetes API" in api.stderr
    s3 = remote_run("--s3-endpoint", "http://127.0.0.1:9")
    assert s3.returncode == 1 and "cannot reach" in s3.stderr


def test_dry_run_prints_valid_manifests_without_secret_values(remote_run, fake_kube):
    import kubernetes_validate
    import yaml

    result = remote_run("--dry-run")
    assert result.returncode == 0, result.stderr
    manifests = list(yaml.safe_load_all(result.stdout))
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Secret", "Job"]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    assert manifests[1]["stringData"] == {"credentials": "<from the credentials file>"}
    assert manifests[2]["metadata"]["namespace"] == "aframe"  # the kubeconfig context's
    assert SECRET_KEY not in result.stdout + result.stderr
    assert fake_kube.requests == []
