"""The storage write side (issue 12) against the real S3 server on localhost: multipart, checksums, resume, retry,
an upload killed half-way, and done-markers of s3:// outputs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSResponse

from executables.common import storage
from executables.common.errors import InputError, TransientError, exit_code_for
from executables.common.markers import read_done_marker, write_done_marker
from tests.executables.common.storage.test_reads import _payload

ROOT = Path(__file__).resolve().parents[4]
MB = 1024 * 1024
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=2)


def _file(path: Path, n: int, seed: int = 0) -> Path:
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    path.write_bytes((block * (n // len(block) + 1))[:n])
    return path


def _part_puts(server, bucket: str, key: str) -> int:
    return sum(1 for r in server.requests
               if r.method == "PUT" and r.path == f"/{bucket}/{key}" and "partNumber" in r.query)


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


def test_multipart_upload_is_checksummed_and_remembered(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    source = _file(tmp_path / "train.hdf5", 12 * MB, seed=1)
    url = f"s3://{s3_bucket}/data/train.hdf5"
    record = storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    head = s3.head_object(Bucket=s3_bucket, Key="data/train.hdf5")
    parts = [hashlib.md5(source.read_bytes()[i:i + 5 * MB]).digest() for i in range(0, 12 * MB, 5 * MB)]
    assert _part_puts(s3_server, s3_bucket, "data/train.hdf5") == 3
    assert head["ETag"].strip('"') == hashlib.md5(b"".join(parts)).hexdigest() + "-3"
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    assert record == {"path": url, "size": 12 * MB, "etag": head["ETag"].strip('"'), "md5": md5}
    assert storage.verified_output(url) == record
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()


def test_same_file_is_not_sent_twice(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    source = _file(tmp_path / "bg.hdf5", 1000)
    url = f"s3://{s3_bucket}/bg.hdf5"
    storage.upload(source, url, s3=s3)
    storage.upload(source, url, s3=s3)
    assert s3_server.count("PUT", f"/{s3_bucket}/bg.hdf5") == 1
    _file(source, 1000, seed=9)  # new content: sent again
    storage.upload(source, url, s3=s3)
    assert s3_server.count("PUT", f"/{s3_bucket}/bg.hdf5") == 2
    assert s3.get_object(Bucket=s3_bucket, Key="bg.hdf5")["Body"].read() == source.read_bytes()


def _killed_upload(s3_server, source: Path, url: str, after_parts: int) -> subprocess.CompletedProcess:
    """Upload in a child process that SIGKILLs itself right after S3 acknowledged ``after_parts`` parts."""
    script = textwrap.dedent(f"""
        import os, signal
        from boto3.s3.transfer import TransferConfig
        from executables.common import storage
        s3 = storage.client()
        sent = []
        def count(**kwargs):
            sent.append(1)
            if len(sent) == {after_parts}:
                os.kill(os.getpid(), signal.SIGKILL)
        s3.meta.events.register("after-call.s3.UploadPart", count)
        config = TransferConfig(multipart_threshold={5 * MB}, multipart_chunksize={5 * MB}, max_concurrency=1)
        storage.upload({str(source)!r}, {url!r}, s3=s3, transfer_config=config)
    """)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=s3_server.endpoint_url, AWS_SHARED_CREDENTIALS_FILE=str(s3_server.credentials_file),
               AWS_PROFILE=s3_server.profile, AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_killed_upload_leaves_nothing_readable_and_resumes(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    source = _file(tmp_path / "big.hdf5", 17 * MB, seed=2)  # 4 parts of 5 MiB (the last 2 MiB)
    url = f"s3://{s3_bucket}/run/big.hdf5"
    killed = _killed_upload(s3_server, source, url, after_parts=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _part_puts(s3_server, s3_bucket, "run/big.hdf5") == 2
    # a reader sees no object at all: not listed, no size, nothing to download
    assert not storage.exists(url, s3=s3)
    assert storage.listdir(f"s3://{s3_bucket}/run", s3=s3) == []
    with pytest.raises(InputError, match="no such object"):
        storage.local_copy(url, tmp_path / "scratch", s3=s3)
    # the retry sends only the two missing parts and completes the same upload
    storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    assert _part_puts(s3_server, s3_bucket, "run/big.hdf5") == 4
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_unfinished_upload_of_other_content_is_not_reused(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    url = f"s3://{s3_bucket}/w.hdf5"
    stale = s3.create_multipart_upload(Bucket=s3_bucket, Key="w.hdf5")["UploadId"]
    s3.upload_part(Bucket=s3_bucket, Key="w.hdf5", UploadId=stale, PartNumber=1, Body=b"\0" * (5 * MB))
    source = _file(tmp_path / "w.hdf5", 11 * MB, seed=3)
    storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    assert _part_puts(s3_server, s3_bucket, "w.hdf5") == 1 + 3
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []  # the stale one was aborted


class _SlowDown:
    """The body of S3's 503 throttling answer, as botocore reads a raw response."""

    def stream(self):
        yield b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


def _fail_first(s3, operation: str, failures: int) -> list[int]:
    """Answer the first ``failures`` ``operation`` requests with S3's 503 before they leave the client."""
    calls: list[int] = []

    def answer(request, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            return AWSResponse(request.url, 503, {}, _SlowDown())
        return None

    s3.meta.events.register(f"before-send.s3.{operation}", answer)
    return calls


def test_failed_attempt_is_retried_with_backoff_and_resumes(tmp_path, s3_server, s3_bucket, caplog):
    s3 = s3_server.client(max_attempts=1)  # no botocore retries: the upload's own retry must do it
    calls = _fail_first(s3, "CompleteMultipartUpload", failures=1)
    source = _file(tmp_path / "r.hdf5", 11 * MB, seed=4)
    url = f"s3://{s3_bucket}/r.hdf5"
    storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS, backoff=0.01)
    assert len(calls) == 2
    assert _part_puts(s3_server, s3_bucket, "r.hdf5") == 3  # the second attempt resumed: no part sent twice
    assert "upload attempt 1 of 4 failed" in caplog.text
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()


def test_persistent_failure_is_transient_after_the_attempts(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client(max_attempts=1)
    calls = _fail_first(s3, "PutObject", failures=100)
    source = _file(tmp_path / "s.hdf5", 100)
    with pytest.raises(TransientError) as info:
        storage.upload(source, f"s3://{s3_bucket}/s.hdf5", s3=s3, attempts=3, backoff=0.01)
    assert exit_code_for(info.value) == 1
    assert len(calls) == 3
    assert not storage.exists(f"s3://{s3_bucket}/s.hdf5", s3=s3)


def test_unreachable_bucket_is_transient(tmp_path, s3_server):
    dead = s3_server.client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.5, max_attempts=1)
    source = _file(tmp_path / "s.hdf5", 100)
    with pytest.raises(TransientError, match="cannot reach"):
        storage.upload(source, "s3://bucket/s.hdf5", s3=dead, attempts=2, backoff=0.01)


def test_writable_uploads_only_a_finished_block(tmp_path, s3_server, s3_bucket, monkeypatch):
    s3 = s3_server.client()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    url = f"s3://{s3_bucket}/out/a.hdf5"
    with pytest.raises(RuntimeError), storage.writable(url, s3=s3) as local:
        local.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not storage.exists(url, s3=s3)
    with storage.writable(url, s3=s3) as local:
        assert local.name == "a.hdf5" and local.parent.parent == tmp_path
        local.write_bytes(b"whole")
    assert s3.get_object(Bucket=s3_bucket, Key="out/a.hdf5")["Body"].read() == b"whole"
    assert not local.exists()  # the scratch copy is gone
    with storage.writable(tmp_path / "local.h5") as plain:
        assert plain == tmp_path / "local.h5"


def test_marker_of_an_s3_output_records_the_verified_upload(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    url = f"s3://{s3_bucket}/m/model.pt"
    storage.upload(_file(tmp_path / "model.pt", 2000), url, s3=s3)
    marker = tmp_path / "done" / "train.json"
    record = write_done_marker(marker, "train", [url], "h")
    head = s3.head_object(Bucket=s3_bucket, Key="m/model.pt")
    assert read_done_marker(marker)["outputs"] == record["outputs"] == [
        {"path": url, "size": 2000, "etag": head["ETag"].strip('"'), "md5": head["ETag"].strip('"')}
    ]
    with pytest.raises(RuntimeError, match="did not upload or check it"):
        write_done_marker(tmp_path / "done" / "x.json", "x", [f"s3://{s3_bucket}/never-uploaded"], "h")
    assert not (tmp_path / "done" / "x.json").exists()


def test_resumed_upload_of_another_attempt_gets_this_files_md5(tmp_path, s3_server, s3_bucket):
    s3 = s3_server.client()
    source = _file(tmp_path / "x.hdf5", 11 * MB, seed=5)
    # an earlier attempt sent the same first part but announced another MD5 when it started
    other = s3.create_multipart_upload(Bucket=s3_bucket, Key="x.hdf5", Metadata={"md5": "f" * 32})["UploadId"]
    s3.upload_part(Bucket=s3_bucket, Key="x.hdf5", UploadId=other, PartNumber=1,
                   Body=source.read_bytes()[:5 * MB])
    url = f"s3://{s3_bucket}/x.hdf5"
    record = storage.upload(source, url, s3=s3, transfer_config=SMALL_PARTS)
    assert _part_puts(s3_server, s3_bucket, "x.hdf5") == 1 + 2  # resumed: parts 2 and 3 only
    assert record["md5"] == hashlib.md5(source.read_bytes()).hexdigest()
    assert s3.head_object(Bucket=s3_bucket, Key="x.hdf5")["Metadata"]["md5"] == record["md5"]
    assert storage.local_copy(url, tmp_path / "scratch", s3=s3).read_bytes() == source.read_bytes()
