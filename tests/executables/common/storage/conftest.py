"""Fixtures of the storage tests: a client of the S3 test server (tests/fixtures/s3.py)."""

import pytest


@pytest.fixture
def s3(s3_server):  # noqa: F811
    return s3_server.client()
