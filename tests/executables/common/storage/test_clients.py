"""S3 clients (issue 12): failures in the node contract's terms, and never a secret in a log or message."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from executables.common import storage
from executables.common.errors import InputError, TransientError, exit_code_for
from tests.executables.common.storage.test_reads import MB, SMALL_PARTS, _payload, _put
from tests.fixtures.s3 import SECRET_KEY


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
