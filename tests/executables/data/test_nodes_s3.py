"""Data nodes with s3:// outputs and inputs (issue 12): written locally, uploaded and verified, then the marker.

The console scripts run as the DAG runs them, against the real S3 server on localhost; the endpoint, the
credentials file and the profile reach them through the standard AWS variables (paths and names only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from executables.common import storage
from executables.formats.sets import ResponseSet
from executables.formats.strain import read_background
from tests.executables.data.test_injections import EXPECTED, args
from tests.executables.formats.test_ledger import response_set
from tests.fixtures.s3 import SECRET_KEY

BIN = Path(sys.executable).parent
T0 = 1_240_579_783


def run(program: str, *arguments, s3_server, profile: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=s3_server.endpoint_url, AWS_SHARED_CREDENTIALS_FILE=str(s3_server.credentials_file),
               AWS_PROFILE=profile or s3_server.profile, AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run([str(BIN / program), *map(str, arguments)], capture_output=True, text=True, timeout=300,
                          env=env)


def marker_outputs(marker: Path) -> list[dict]:
    return json.loads(marker.read_text())["outputs"]


def test_background_to_s3_matches_a_local_run_and_marks_the_object(tmp_path, s3_server, s3_bucket):
    common = ("--ifos", "H1,L1", "--start", T0, "--duration", 64, "--sample-rate", 512, "--seed", 3)
    url = f"s3://{s3_bucket}/run/data/train/background/background-{T0}-64.hdf5"
    marker = tmp_path / "done" / "background.json"
    result = run("aframe-background", *common, "--output", url, "--node", "background", "--node-hash", "h",
                 "--done-marker", marker, s3_server=s3_server)
    assert result.returncode == 0, result.stderr
    local = tmp_path / "local.hdf5"
    assert run("aframe-background", *common, "--output", local, s3_server=s3_server).returncode == 0
    s3 = s3_server.client()
    copy = storage.local_copy(url, tmp_path / "scratch", s3=s3)
    assert copy.read_bytes() == local.read_bytes()  # the same bytes as a local run
    strain, t0, _ = read_background(copy, ["H1", "L1"])
    assert t0 == T0 and {ifo: len(values) for ifo, values in strain.items()} == {"H1": 64 * 512, "L1": 64 * 512}
    head = s3.head_object(Bucket=s3_bucket, Key=url.split("/", 3)[3])
    etag = head["ETag"].strip('"')
    assert marker_outputs(marker) == [{"path": url, "size": local.stat().st_size, "etag": etag, "md5": etag}]
    assert "upload verified" in result.stderr
    assert SECRET_KEY not in result.stderr


def test_merge_reads_s3_shards_and_writes_s3(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    urls = []
    for k in range(2):
        path = response_set(rows=3 + k, seed=k).write(tmp_path / f"val-{k:03d}.hdf5")
        urls.append(f"s3://{s3_bucket}/data/waveforms/val-{k:03d}.hdf5")
        storage.upload(path, urls[-1], s3=s3)
    output, marker = f"s3://{s3_bucket}/data/val_waveforms.hdf5", tmp_path / "done" / "merge.json"
    result = run("aframe-merge", "--kind", "waveforms", "--output", output, "--device", "cpu",
                 *[item for url in urls for item in ("--input", url)], "--node", "merge", "--node-hash", "h",
                 "--done-marker", marker, s3_server=s3_server)
    assert result.returncode == 0, result.stderr
    merged = ResponseSet.read(storage.local_copy(output, tmp_path / "scratch", s3=s3))
    assert len(merged) == 3 + 4
    parts = [ResponseSet.read(tmp_path / f"val-{k:03d}.hdf5") for k in range(2)]
    np.testing.assert_array_equal(merged.snr, np.concatenate([part.snr for part in parts]))
    assert [item["path"] for item in marker_outputs(marker)] == [output]
    assert all(storage.exists(url, s3=s3) for url in urls)  # inputs kept


def test_injections_from_an_s3_background_to_s3(tmp_path, s3_server, s3_bucket):
    from executables.data.background import generate_background

    s3 = s3_server.client()
    background = generate_background(tmp_path / f"background-{T0}-256.hdf5", ["H1", "L1"], T0, 256, 2048, seed=4)
    source = f"s3://{s3_bucket}/test/background-{T0}-256.hdf5"
    storage.upload(background, source, s3=s3)
    output, rejected = f"s3://{s3_bucket}/test/injections.hdf5", f"s3://{s3_bucket}/test/rejected.hdf5"
    marker = tmp_path / "done" / "injections.json"
    result = run("aframe-injections", *args(source, output, rejected), "--node", "injections", "--node-hash", "h",
                 "--done-marker", marker, s3_server=s3_server)
    assert result.returncode == 0, result.stderr
    accepted = ResponseSet.read(storage.local_copy(output, tmp_path / "scratch", s3=s3))
    assert len(accepted) == EXPECTED
    assert [item["path"] for item in marker_outputs(marker)] == [output, rejected]


def test_bad_urls_and_denied_access_follow_the_exit_codes(tmp_path, s3_server, s3_bucket):
    common = ("--ifos", "H1", "--start", T0, "--duration", 8, "--sample-rate", 256)
    malformed = run("aframe-background", *common, "--output", "s3://bad bucket/x.hdf5", s3_server=s3_server)
    assert malformed.returncode == 2 and "malformed s3:// URL" in malformed.stderr
    url = f"s3://{s3_bucket}/denied.hdf5"
    marker = tmp_path / "done" / "denied.json"
    with s3_server.iam_checks():
        denied = run("aframe-background", *common, "--output", url, "--node", "x", "--node-hash", "h",
                     "--done-marker", marker, profile="wrong-keys", s3_server=s3_server)
    assert denied.returncode == 1, denied.stderr  # DAGMan retries: keys may be rotated, the bucket policy fixed
    assert "access denied" in denied.stderr and "profile 'wrong-keys'" in denied.stderr
    assert not marker.exists() and not storage.exists(url, s3=s3_server.client())


@pytest.fixture(autouse=True)
def _no_stray_scratch(tmp_path, monkeypatch):
    """Node scratch goes under the test's directory, and nothing is left there afterwards."""
    scratch = tmp_path / "node-tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    yield
    assert list(scratch.iterdir()) == []
