"""The storage module against a real S3 server on localhost (moto's server, tests/fixtures/s3.py)."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from executables.common import storage
from executables.common.errors import InputError, TransientError, exit_code_for
from tests.fixtures.s3 import SECRET_KEY

ROOT = Path(__file__).resolve().parents[3]
MB = 1024 * 1024
# S3 (and moto) refuse parts under 5 MiB; 5 MiB parts make a 12 MiB object a 3-part multipart object.
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=4)


def _payload(n: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    return (block * (n // len(block) + 1))[:n]


@pytest.fixture
def s3(s3_server):  # noqa: F811
    return s3_server.client()


def _put(s3, bucket: str, key: str, data: bytes, **extra) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return f"s3://{bucket}/{key}"


# ------------------------------------------------------------------------------------------------------- paths


def test_is_remote_and_join():
    assert storage.is_remote("s3://b/k")
    assert not storage.is_remote("/data/b/k")
    assert not storage.is_remote(Path("s3:/b"))
    assert storage.join("s3://b/run/", "data", "/x.h5") == "s3://b/run/data/x.h5"
    assert storage.join("s3://b", "x.h5") == "s3://b/x.h5"
    assert storage.join("/tmp/run", "data", "x.h5") == Path("/tmp/run/data/x.h5")


@pytest.mark.parametrize("url", ["s3://", "s3:///key", "s3://bad bucket/key"])
def test_malformed_url_is_input_error(url, tmp_path, s3):
    with pytest.raises(InputError) as info:
        storage.local_copy(url, tmp_path, s3=s3)
    assert exit_code_for(info.value) == 2
    assert "malformed" in str(info.value)


def test_key_escaping_scratch_is_refused(tmp_path, s3, s3_bucket):  # noqa: F811
    with pytest.raises(InputError, match=r"'\.\.'"):
        storage.local_copy(f"s3://{s3_bucket}/a/../../etc/passwd", tmp_path, s3=s3)


def test_local_paths_pass_through(tmp_path):
    f = tmp_path / "a.h5"
    f.write_bytes(b"abc")
    assert storage.local_copy(f, tmp_path / "scratch") == f
    assert storage.local_copies([str(f)], tmp_path / "scratch") == [f]
    assert storage.exists(f) and not storage.exists(tmp_path / "missing")
    assert storage.size(f) == 3
    with pytest.raises(InputError):
        storage.size(tmp_path / "missing")
    assert storage.listdir(tmp_path) == [f]


# ---------------------------------------------------------------------------------------------------- queries


def test_exists_size_listdir(s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "run/data/a.h5", b"x" * 10)
    _put(s3, s3_bucket, "run/data/b.h5", b"y")
    _put(s3, s3_bucket, "run/data/sub/c.h5", b"z")
    assert storage.exists(url, s3=s3)
    assert storage.exists(f"s3://{s3_bucket}/run/data", s3=s3)  # a prefix
    assert storage.exists(f"s3://{s3_bucket}/run/data/", s3=s3)
    assert storage.exists(f"s3://{s3_bucket}", s3=s3)
    assert not storage.exists(f"s3://{s3_bucket}/run/nothing", s3=s3)
    assert not storage.exists(f"s3://{s3_bucket}-missing", s3=s3)
    assert not storage.exists(f"s3://{s3_bucket}-missing/key", s3=s3)
    assert storage.size(url, s3=s3) == 10
    assert storage.listdir(f"s3://{s3_bucket}/run/data", s3=s3) == [url, f"s3://{s3_bucket}/run/data/b.h5"]


# ------------------------------------------------------------------------------------------------------ reads


def test_download_small_object(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    data = _payload(100_000)
    url = _put(s3, s3_bucket, "data/bg-0-100.hdf5", data)
    local = storage.local_copy(url, tmp_path, s3=s3)
    assert local == tmp_path / s3_bucket / "data" / "bg-0-100.hdf5"
    assert local.read_bytes() == data
    assert sorted(p.name for p in local.parent.iterdir()) == [
        "bg-0-100.hdf5", "bg-0-100.hdf5.lock", "bg-0-100.hdf5.s3.json"
    ]


def test_download_multipart_object_checked_by_stored_md5(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    data = _payload(12 * MB, seed=1)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    url = f"s3://{s3_bucket}/wf/train.hdf5"
    storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    head = s3.head_object(Bucket=s3_bucket, Key="wf/train.hdf5")
    assert head["ETag"].strip('"').endswith("-3")  # really multipart
    assert storage.expected_md5(head) == hashlib.md5(data).hexdigest()
    before = s3_server.count("GET", f"/{s3_bucket}/wf/train.hdf5")
    local = storage.local_copy(url, tmp_path / "scratch", s3=s3, transfer_config=SMALL_PARTS)
    assert local.read_bytes() == data
    assert s3_server.count("GET", f"/{s3_bucket}/wf/train.hdf5") - before == 3  # ranged GETs, one per part


def test_multipart_object_from_elsewhere_checked_by_size(tmp_path, s3, s3_bucket):  # noqa: F811
    data = _payload(11 * MB, seed=2)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), s3_bucket, "foreign.bin", Config=SMALL_PARTS)  # no x-amz-meta-md5
    local = storage.local_copy(f"s3://{s3_bucket}/foreign.bin", tmp_path / "scratch", s3=s3)
    assert local.read_bytes() == data


def test_complete_copy_is_reused_without_a_get(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "a.h5", _payload(50_000))
    path = f"/{s3_bucket}/a.h5"
    first = storage.local_copy(url, tmp_path, s3=s3)
    assert s3_server.count("GET", path) == 1
    assert storage.local_copy(url, tmp_path, s3=s3) == first
    assert s3_server.count("GET", path) == 1
    # without the sidecar the copy is recognised by its MD5
    storage._sidecar(first).unlink()
    assert storage.local_copy(url, tmp_path, s3=s3) == first
    assert s3_server.count("GET", path) == 1
    assert storage._sidecar(first).is_file()


def test_truncated_copy_is_downloaded_again(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    data = _payload(50_000)
    url = _put(s3, s3_bucket, "a.h5", data)
    local = storage.local_copy(url, tmp_path, s3=s3)
    with open(local, "r+b") as handle:
        handle.truncate(1000)
    assert storage.local_copy(url, tmp_path, s3=s3).read_bytes() == data
    assert s3_server.count("GET", f"/{s3_bucket}/a.h5") == 2


def test_same_size_corrupt_copy_is_downloaded_again(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    data = _payload(50_000)
    url = _put(s3, s3_bucket, "a.h5", data)
    local = storage.local_copy(url, tmp_path, s3=s3)
    local.write_bytes(b"\0" * len(data))  # same size, new mtime: the sidecar no longer vouches for it
    assert storage.local_copy(url, tmp_path, s3=s3).read_bytes() == data
    assert s3_server.count("GET", f"/{s3_bucket}/a.h5") == 2


def test_changed_object_is_downloaded_again(tmp_path, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "a.h5", _payload(1000, seed=1))
    storage.local_copy(url, tmp_path, s3=s3)
    _put(s3, s3_bucket, "a.h5", _payload(1000, seed=2))
    assert storage.local_copy(url, tmp_path, s3=s3).read_bytes() == _payload(1000, seed=2)


def test_checksum_mismatch_is_transient_and_leaves_nothing(tmp_path, s3, s3_bucket):  # noqa: F811
    data = _payload(11 * MB, seed=3)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    wrong = {"Metadata": {"md5": "0" * 32}}
    s3.upload_file(str(source), s3_bucket, "bad.bin", ExtraArgs=wrong, Config=SMALL_PARTS)
    scratch = tmp_path / "scratch"
    with pytest.raises(TransientError, match="MD5") as info:
        storage.local_copy(f"s3://{s3_bucket}/bad.bin", scratch, s3=s3, transfer_config=SMALL_PARTS)
    assert exit_code_for(info.value) == 1
    assert sorted(p.name for p in (scratch / s3_bucket).iterdir()) == ["bad.bin.lock"]


def test_stale_partial_download_is_cleaned(tmp_path, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "a.h5", b"abc")
    directory = tmp_path / s3_bucket
    directory.mkdir()
    (directory / ".a.h5.tmp-999999-deadbeef").write_bytes(b"ab")  # what a killed download leaves
    assert storage.local_copy(url, tmp_path, s3=s3).read_bytes() == b"abc"
    assert sorted(p.name for p in directory.iterdir()) == ["a.h5", "a.h5.lock", "a.h5.s3.json"]


def test_local_copies(tmp_path, s3, s3_bucket):  # noqa: F811
    urls = [_put(s3, s3_bucket, f"d/{i}.h5", bytes([i]) * 10) for i in range(3)]
    local = tmp_path / "local.h5"
    local.write_bytes(b"L")
    copies = storage.local_copies([*urls, local], tmp_path / "scratch", s3=s3)
    assert [c.read_bytes() for c in copies] == [bytes([i]) * 10 for i in range(3)] + [b"L"]


def _child(s3_server, url: str, scratch: Path, go: Path | None = None) -> subprocess.Popen:  # noqa: F811
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from executables.common import storage
        go = {str(go) if go else None!r}
        while go and not os.path.exists(go):
            time.sleep(0.005)
        print(storage.local_copy({url!r}, {str(scratch)!r}))
        """
    )
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_SHARED_CREDENTIALS_FILE=str(s3_server.credentials_file),
        AWS_PROFILE=s3_server.profile,
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONPATH=str(ROOT),
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_download_once(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    data = _payload(4 * MB, seed=4)
    url = _put(s3, s3_bucket, "shared.h5", data)
    go = tmp_path / "go"
    children = [_child(s3_server, url, tmp_path / "scratch", go) for _ in range(2)]
    time.sleep(1.0)  # both interpreters are up and polling
    go.touch()
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(tmp_path / "scratch" / s3_bucket / "shared.h5")}
    assert s3_server.count("GET", f"/{s3_bucket}/shared.h5") == 1
    assert (tmp_path / "scratch" / s3_bucket / "shared.h5").read_bytes() == data


def test_download_waits_for_the_lock(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "locked.h5", b"data")
    local = tmp_path / s3_bucket / "locked.h5"
    local.parent.mkdir(parents=True)
    fd = os.open(local.with_name("locked.h5.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        child = _child(s3_server, url, tmp_path)
        time.sleep(1.5)
        assert child.poll() is None  # blocked on the lock
        assert s3_server.count("HEAD", f"/{s3_bucket}/locked.h5") == 0
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert local.read_bytes() == b"data"


# ----------------------------------------------------------------------------------------------------- errors


def test_missing_key_and_bucket_are_input_errors(tmp_path, s3, s3_bucket):  # noqa: F811
    for url in (f"s3://{s3_bucket}/missing.h5", f"s3://{s3_bucket}-nope/missing.h5"):
        with pytest.raises(InputError) as info:
            storage.local_copy(url, tmp_path, s3=s3)
        assert exit_code_for(info.value) == 2
        assert str(info.value) == f"{url}: no such object"
        with pytest.raises(InputError):
            storage.size(url, s3=s3)
    assert not (tmp_path / s3_bucket / "missing.h5").exists()


def test_wrong_keys_are_access_denied(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "a.h5", b"abc")
    wrong = s3_server.client(profile="wrong-keys")
    with s3_server.iam_checks(), pytest.raises(TransientError) as info:
        storage.local_copy(url, tmp_path, s3=wrong)
    assert exit_code_for(info.value) == 1  # issue 12: access denied is retried (exit 1), not a bad input
    assert "access denied" in str(info.value)
    assert f"credentials file {s3_server.credentials_file} and profile 'wrong-keys'" in str(info.value)


def test_user_without_permission_is_access_denied(tmp_path, s3_server, s3, s3_bucket):  # noqa: F811
    import boto3

    url = _put(s3, s3_bucket, "a.h5", b"abc")
    iam = boto3.client("iam", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="y")
    name = f"nobody-{s3_bucket}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = tmp_path / "creds"
    creds.write_text(f"[nobody]\naws_access_key_id = {key['AccessKeyId']}\n"
                     f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    nobody = s3_server.client(profile="nobody", credentials_file=creds)
    with s3_server.iam_checks(), pytest.raises(TransientError, match="access denied") as info:
        storage.local_copy(url, tmp_path / "scratch", s3=nobody)
    assert key["SecretAccessKey"] not in str(info.value)


def test_unknown_profile_is_input_error(s3_server):  # noqa: F811
    with pytest.raises(InputError, match="profile"):
        s3_server.client(profile="no-such-profile")


def test_unreachable_endpoint_is_transient_and_quick(tmp_path, s3_server):  # noqa: F811
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    dead = s3_server.client(endpoint_url=f"http://127.0.0.1:{port}", connect_timeout=1, max_attempts=2)
    start = time.monotonic()
    with pytest.raises(TransientError, match="cannot reach") as info:
        storage.local_copy("s3://bucket/key.h5", tmp_path, s3=dead)
    assert exit_code_for(info.value) == 1
    assert time.monotonic() - start < 10
    with pytest.raises(TransientError):
        storage.exists("s3://bucket/key.h5", s3=dead)


def test_endpoint_from_environment(monkeypatch, s3_server, s3, s3_bucket):  # noqa: F811
    url = _put(s3, s3_bucket, "env.h5", b"abc")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(s3_server.credentials_file))
    monkeypatch.setenv("AWS_PROFILE", s3_server.profile)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env_client = storage.client()
    assert env_client.meta.endpoint_url == s3_server.endpoint_url
    assert storage.size(url, s3=env_client) == 3


# ----------------------------------------------------------------------------------------------------- writes


def test_upload_and_verify(tmp_path, s3, s3_bucket):  # noqa: F811
    source = tmp_path / "out.h5"
    source.write_bytes(_payload(70_000, seed=5))
    url = storage.join(f"s3://{s3_bucket}/run", "out.h5")
    storage.upload(source, url, s3=s3)
    head = s3.head_object(Bucket=s3_bucket, Key="run/out.h5")
    assert head["ContentLength"] == 70_000
    assert head["Metadata"]["md5"] == head["ETag"].strip('"') == hashlib.md5(source.read_bytes()).hexdigest()
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()


def test_upload_to_local_path_and_errors(tmp_path, s3, s3_bucket):  # noqa: F811
    source = tmp_path / "out.h5"
    source.write_bytes(b"abc")
    storage.upload(source, tmp_path / "dest" / "out.h5")
    assert (tmp_path / "dest" / "out.h5").read_bytes() == b"abc"
    storage.upload(source, source)  # same file: nothing to do
    with pytest.raises(InputError, match="no such file"):
        storage.upload(tmp_path / "missing.h5", f"s3://{s3_bucket}/x.h5", s3=s3)
    with pytest.raises(InputError, match="no such bucket"):
        storage.upload(source, f"s3://{s3_bucket}-nope/x.h5", s3=s3)


def test_credentials_never_logged(tmp_path, caplog, s3_server, s3_bucket):  # noqa: F811
    caplog.set_level(logging.DEBUG)  # botocore's own debug logging included
    s3 = s3_server.client(region="us-east-1")  # a fresh client: it loads the credentials file while we listen
    source = tmp_path / "out.h5"
    source.write_bytes(_payload(6 * MB, seed=6))
    url = f"s3://{s3_bucket}/secret-test.h5"
    storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    storage.local_copy(url, tmp_path / "scratch", s3=s3)
    with pytest.raises(InputError) as info:
        storage.local_copy(f"s3://{s3_bucket}/missing", tmp_path / "scratch", s3=s3)
    assert "S3 client: endpoint" in caplog.text
    assert len(caplog.text) > 1000  # botocore really logged
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in str(info.value)
    description = storage.describe_client(s3)
    assert description == (f"endpoint {s3_server.endpoint_url}, profile {s3_server.profile!r}, "
                           f"credentials file {s3_server.credentials_file}")


def test_endpoint_password_not_in_messages(s3_server):  # noqa: F811
    with pytest.raises(InputError) as info:
        s3_server.client(endpoint_url="http://user:hunter2@[bad")
    assert "hunter2" not in str(info.value)
