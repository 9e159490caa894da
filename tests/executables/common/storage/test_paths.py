"""Paths (issue 9): local paths pass through; s3:// URLs are parsed, joined, and refused when malformed."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from executables.common import storage
from executables.common.errors import InputError, exit_code_for


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


def test_path_or_url_option():
    @click.command()
    @click.option("--output", type=storage.PathOrUrl())
    def command(output):
        click.echo(repr(output))

    from click.testing import CliRunner

    runner = CliRunner()
    assert runner.invoke(command, ["--output", "s3://b/x/y.h5"]).output.strip() == "'s3://b/x/y.h5'"
    assert runner.invoke(command, ["--output", "/tmp/y.h5"]).output.strip() == repr(Path("/tmp/y.h5"))
    bad = runner.invoke(command, ["--output", "s3://b/"])
    assert bad.exit_code == 2 and "expected s3://bucket/key naming an object" in bad.output
