"""aframe-train's inputs from S3 (a real moto server on localhost) and its DDP decision."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from executables.common import storage
from executables.train.train import lightning_devices, main, scratch_dir

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


@pytest.mark.parametrize("device, visible, expected", [
    ("cpu", 0, (1, "auto")), ("cpu", 4, (1, "auto")), ("cuda", 1, (1, "auto")), ("cuda", 2, (2, "ddp")),
    ("cuda", 8, (8, "ddp")),
])
def test_ddp_over_every_visible_gpu_when_there_are_several(device, visible, expected):
    assert lightning_devices(device, visible) == expected
