"""Secret-leak test (issue 12): with AWS_SECRET_ACCESS_KEY set to a marker, init, build and run the remote path
(the remote-train node through the local executor, the fake Kubernetes API, the local S3 server); the marker
appears in no file of the run directory, no object of the bucket and no Kubernetes object."""

from __future__ import annotations

import json
import os
import subprocess

from executables.common import storage
from tests.executables.remote.remote_dag import (
    BIN,
    MARKER,
    build,
    files_containing,
    node_arguments,
    option_values,
    run_environment,
)
from tests.fixtures.s3 import SECRET_KEY


def test_remote_path_leaks_no_secret(tmp_path, s3_server, s3_bucket, fake_kube):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_SECRET_ACCESS_KEY=MARKER, AWS_ACCESS_KEY_ID="AKIALEAKMARKER000000")
    directory = tmp_path / "run"
    condor_dir = build(directory, s3_bucket, s3_server, fake_kube.kubeconfig(tmp_path / "kubeconfig"), env)
    arguments = node_arguments(condor_dir, "remote-train")
    s3 = s3_server.client()
    for url in option_values(arguments, "--waveforms") + option_values(arguments, "--validation") + \
            option_values(arguments, "--background"):  # what the data stage would have uploaded
        local = tmp_path / "input.hdf5"
        local.write_bytes(url.encode())
        storage.upload(local, url, s3=s3)

    environment = {**env, **run_environment(directory / "run.sh")}
    result = subprocess.run([BIN / "aframe-dag", "run", condor_dir, "--only", "remote-train"], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    marker = json.loads((condor_dir / "done" / "remote-train.json").read_text())
    assert marker["outputs"][0]["path"] == f"s3://{s3_bucket}/run/training/model.pt"
    assert fake_kube.count("POST", "jobs") == 1 and fake_kube.names("secrets") == []

    assert files_containing(directory, MARKER) == []
    assert files_containing(directory, SECRET_KEY) == []  # the credentials file's own key: only in the Secret
    assert MARKER not in result.stdout + result.stderr
    for key in [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]:
        assert MARKER.encode() not in s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    kube_objects = json.dumps(list(fake_kube.objects.values()) + fake_kube.secrets_seen)
    assert MARKER not in kube_objects and "AKIALEAKMARKER" not in kube_objects
