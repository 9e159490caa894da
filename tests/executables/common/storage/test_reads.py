"""The read side (issue 9) against a real S3 server on localhost (moto's server, tests/fixtures/s3.py): queries, and
downloads that are verified, locked against each other and reused when complete."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from executables.common import storage
from executables.common.errors import TransientError, exit_code_for
from executables.common.storage import reads

ROOT = Path(__file__).resolve().parents[4]
MB = 1024 * 1024


# S3 (and moto) refuse parts under 5 MiB; 5 MiB parts make a 12 MiB object a 3-part multipart object.
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=4)


def _payload(n: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    return (block * (n // len(block) + 1))[:n]


def _put(s3, bucket: str, key: str, data: bytes, **extra) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return f"s3://{bucket}/{key}"


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
    reads._sidecar(first).unlink()
    assert storage.local_copy(url, tmp_path, s3=s3) == first
    assert s3_server.count("GET", path) == 1
    assert reads._sidecar(first).is_file()


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


def _child(s3_server, url: str, scratch: Path, go: Path | None = None, ready: Path | None = None
           ) -> subprocess.Popen:  # noqa: F811
    """A process that copies `url` into `scratch`; with `go`, it first touches `ready` and waits for `go`."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from executables.common import storage
        go, ready = {str(go) if go else None!r}, {str(ready) if ready else None!r}
        if ready:
            Path(ready).touch()
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
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    children = [_child(s3_server, url, tmp_path / "scratch", go, flag) for flag in ready]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready):  # both interpreters are up (storage imported) and polling
        assert time.monotonic() < deadline and all(child.poll() is None for child in children), [
            child.communicate() for child in children if child.poll() is not None]
        time.sleep(0.01)
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
