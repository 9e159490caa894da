"""aframe-train's inputs from S3 (a real moto server on localhost)."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from executables.common import storage
from executables.common.markers import read_done_marker
from executables.train.rundir import working_copy
from executables.train.train import FINISHED, main, scratch_dir

from .conftest import cli_args


@pytest.fixture
def s3_environment(s3_server, monkeypatch):
    """The environment a job gets for an S3 dataset: endpoint, credentials file path and profile (never keys)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(s3_server.credentials_file))
    monkeypatch.setenv("AWS_PROFILE", s3_server.profile)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage.default_client.cache_clear()
    yield
    storage.default_client.cache_clear()


def test_s3_inputs_are_downloaded_to_condor_scratch_then_trained_on(tiny_inputs, s3_server, s3_bucket,
                                                                     s3_environment, tmp_path, monkeypatch):
    urls = {}
    for name in ("background", "waveforms", "validation"):
        key = f"data/train/{tiny_inputs[name].name}"
        s3_server.client().upload_file(str(tiny_inputs[name]), s3_bucket, key)
        urls[f"--{name}"] = f"s3://{s3_bucket}/{key}"
    scratch = tmp_path / "scratch"
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(scratch))
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(main, cli_args(tiny_inputs, run_dir, **urls, **{"--max-wallclock": "0"}),
                                catch_exceptions=False)
    assert result.exit_code == 85  # one step trained on the downloaded copies, then requeued
    for name in ("background", "waveforms", "validation"):
        local = scratch / "aframe-inputs" / s3_bucket / "data" / "train" / tiny_inputs[name].name
        assert local.read_bytes() == tiny_inputs[name].read_bytes()
    gets = s3_server.count("GET", f"/{s3_bucket}/data/train/{tiny_inputs['waveforms'].name}")
    result = CliRunner().invoke(main, cli_args(tiny_inputs, run_dir, **urls), catch_exceptions=False)
    assert result.exit_code == 0 and (run_dir / "model.pt").is_file()
    # the requeued start reuses the verified copies instead of downloading again
    assert s3_server.count("GET", f"/{s3_bucket}/data/train/{tiny_inputs['waveforms'].name}") == gets


def test_a_missing_s3_input_exits_2_naming_it(tiny_inputs, s3_bucket, s3_environment, tmp_path):
    url = f"s3://{s3_bucket}/absent/train_waveforms.hdf5"
    result = CliRunner().invoke(main, cli_args(tiny_inputs, tmp_path / "run", **{"--waveforms": url}))
    assert result.exit_code == 2
    assert not (tmp_path / "run" / "model.pt").exists()


def test_scratch_is_condor_scratch_else_the_run_dir_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("_CONDOR_SCRATCH_DIR", raising=False)
    assert scratch_dir(tmp_path / "run") == tmp_path / "run" / ".cache"
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(tmp_path / "job"))
    assert scratch_dir(tmp_path / "run") == tmp_path / "job" / "aframe-inputs"


def _put_inputs(tiny_inputs, s3_server, bucket: str) -> dict[str, str]:
    urls = {}
    for name in ("background", "waveforms", "validation"):
        key = f"data/train/{tiny_inputs[name].name}"
        s3_server.client().upload_file(str(tiny_inputs[name]), bucket, key)
        urls[f"--{name}"] = f"s3://{bucket}/{key}"
    return urls


def test_an_s3_run_dir_is_trained_in_scratch_resumed_from_s3_and_uploaded_model_last(
        tiny_inputs, s3_server, s3_bucket, s3_environment, tmp_path, monkeypatch, caplog):
    urls = _put_inputs(tiny_inputs, s3_server, s3_bucket)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.delenv("_CONDOR_SCRATCH_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(scratch))
    run = f"s3://{s3_bucket}/runs/train"
    s3 = s3_server.client()

    def keys() -> set[str]:
        listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="runs/train/").get("Contents", [])
        return {item["Key"].removeprefix("runs/train/") for item in listed}

    # the pod is stopped after one step: last.ckpt is on S3, model.pt is not
    result = CliRunner().invoke(main, cli_args(tiny_inputs, run, **urls, **{"--max-wallclock": "0"}),
                                catch_exceptions=False)
    assert result.exit_code == 85
    assert keys() == {"last.ckpt"}
    assert list(scratch.iterdir()) == []  # the local copy went with the scratch directory

    marker = tmp_path / "done" / "train.json"
    requests = len(s3_server.requests)
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(main, cli_args(tiny_inputs, run, **urls) + [
            "--done-marker", str(marker), "--node-hash", "h"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "last.ckpt: taken from" in caplog.text and "resuming from" in caplog.text
    assert keys() == {*FINISHED, "logs/version_0/metrics.csv"}
    puts = [r.path.removeprefix(f"/{s3_bucket}/runs/train/") for r in s3_server.requests[requests:]
            if r.method in ("PUT", "POST") and r.path.startswith(f"/{s3_bucket}/runs/train/")]
    assert puts[-1] == "model.pt" and puts.count("model.pt") == 1
    outputs = read_done_marker(marker)["outputs"]
    assert [o["path"] for o in outputs] == [f"{run}/{name}" for name in FINISHED]
    head = s3.head_object(Bucket=s3_bucket, Key="runs/train/model.pt")
    assert outputs[-1]["size"] == head["ContentLength"] and outputs[-1]["etag"] == head["ETag"].strip('"')
    assert list(scratch.iterdir()) == []


def test_a_remote_run_dir_brings_back_every_start_s_metrics_and_publishes_the_new_ones(
        s3_server, s3_bucket, s3_environment, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    s3 = s3_server.client()
    run = f"s3://{s3_bucket}/runs/metrics"
    for key, body in (("last.ckpt", b"checkpoint"), ("logs/version_0/metrics.csv", b"step\n1\n"),
                      ("logs/version_1/metrics.csv", b"step\n2\n")):
        s3.put_object(Bucket=s3_bucket, Key=f"runs/metrics/{key}", Body=body)
    with working_copy(run) as (local, remote):
        assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == [
            "last.ckpt", "logs/version_0/metrics.csv", "logs/version_1/metrics.csv"]
        assert (local / "logs/version_1/metrics.csv").read_bytes() == b"step\n2\n"
        (local / "logs/version_2").mkdir()
        (local / "logs/version_2/metrics.csv").write_text("step\n3\n")
        (local / "last.ckpt").write_bytes(b"checkpoint 2")
        remote.publish(local / "last.ckpt")
    assert list(tmp_path.glob("aframe-scratch-*")) == []
    body = s3.get_object(Bucket=s3_bucket, Key="runs/metrics/logs/version_2/metrics.csv")["Body"].read()
    assert body == b"step\n3\n"
    assert s3.get_object(Bucket=s3_bucket, Key="runs/metrics/last.ckpt")["Body"].read() == b"checkpoint 2"


def test_a_malformed_s3_run_dir_exits_2(tiny_inputs, tmp_path):
    result = CliRunner().invoke(main, cli_args(tiny_inputs, "s3://"))
    assert result.exit_code == 2 and "s3://" in result.output
