"""aframe-infer with Triton: the tritonserver launcher against a fake binary, and a real (pytriton, CPU) server.

The real server runs in the separate Triton virtualenv (``make .venv-triton/.installed``, DESIGN §8, §12); without
it those tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from executables.common.errors import TransientError
from executables.formats.events import read_node_events
from executables.infer import triton
from executables.infer.infer import main
from executables.infer.triton import TritonServer, server_command
from tests.executables.infer.infer_inputs import MODEL, bundle_arguments, make_bundle, write_repository
from tests.executables.infer.triton_venv import (
    FAKE,
    HERE,
    MISSING,
    TRITON_PYTHON,
    alive,
    needs_triton,
    pytriton_wrapper,
    triton_environment,
)

pytestmark = pytest.mark.usefixtures("restore_logging")

PYTRITON_SERVER = HERE / "pytriton_server.py"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """``tritonserver`` on PATH is the fake; ``mode(name)`` picks its behaviour, ``records()`` its starts."""
    directory = tmp_path / "bin"
    directory.mkdir()
    script = directory / "tritonserver"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    record = tmp_path / "starts.jsonl"
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TRITON_RECORD", str(record))
    monkeypatch.setenv("FAKE_TRITON_MODE", "ready")

    def records() -> list[dict]:
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    return SimpleNamespace(mode=lambda name: monkeypatch.setenv("FAKE_TRITON_MODE", name), records=records,
                           repository=write_repository(tmp_path / "repo"))


def test_command_line_of_the_server():
    assert server_command(Path("/r"), "aframe", [1, 2, 3]) == [
        "tritonserver", "--model-repository=/r", "--model-control-mode=explicit", "--load-model=aframe",
        "--grpc-port=1", "--http-port=2", "--metrics-port=3", "--exit-on-error=true"]
    assert server_command(Path("/r"), "aframe", [1, 2, 3], "triton.sif")[:6] == [
        "apptainer", "exec", "--nv", "--bind", "/r", "triton.sif"]
    assert len(set(triton.free_ports(3))) == 3
    binary = "/opt/tritonserver/bin/tritonserver"
    assert server_command(Path("/r"), "aframe", [1, 2, 3], binary=binary)[:2] == [binary, "--model-repository=/r"]
    assert server_command(Path("/r"), "aframe", [1, 2, 3], "triton.sif", binary)[5:7] == ["triton.sif", binary]


def test_a_server_binary_that_cannot_run_exits_2_naming_it(tmp_path):
    bundle = make_bundle(tmp_path / "bundle")
    output = tmp_path / "out.hdf5"
    missing = tmp_path / "no" / "tritonserver"
    args = bundle_arguments(bundle, output, server="triton", extra=["--tritonserver", str(missing)])
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert f"cannot start the Triton server: {missing}: No such file or directory" in result.output
    assert not output.exists()


def test_launcher_serves_on_free_ports_and_stops_on_exit(fake):
    with TritonServer(fake.repository, MODEL, timeout=30) as server:
        (start,) = fake.records()
        given = dict(arg[2:].split("=", 1) for arg in start["argv"])
        assert given["model-repository"] == str(fake.repository.absolute())
        assert given["load-model"] == MODEL and given["model-control-mode"] == "explicit"
        ports = {given["grpc-port"], given["http-port"], given["metrics-port"]}
        assert len(ports) == 3
        assert server.url == f"127.0.0.1:{given['grpc-port']}"
        assert alive(start["pid"])
    assert not alive(start["pid"])
    assert server.url is None


def test_readiness_timeout_retries_once_then_fails_with_the_log(fake):
    fake.mode("never")
    with pytest.raises(TransientError) as failure:
        with TritonServer(fake.repository, MODEL, timeout=1.0):
            pass
    message = str(failure.value)
    assert "attempt 1: not ready after 1 s" in message and "attempt 2: not ready after 1 s" in message
    assert "fake tritonserver (never)" in message
    starts = fake.records()
    assert len(starts) == 2
    assert not any(alive(start["pid"]) for start in starts)


def test_server_that_exits_fails_at_once(fake):
    fake.mode("exit")
    started = time.monotonic()
    with pytest.raises(TransientError, match="exited with status 1") as failure:
        with TritonServer(fake.repository, MODEL, timeout=60):
            pass
    assert time.monotonic() - started < 30
    assert "model failed to load" in str(failure.value)


def test_sigterm_stops_the_server(fake, tmp_path):
    code = ("import sys, time\n"
            "from executables.infer.triton import TritonServer, sigterm_raises\n"
            f"with sigterm_raises(), TritonServer({str(fake.repository)!r}, {MODEL!r}, timeout=30):\n"
            "    print('ready', flush=True)\n"
            # Short sleeps, as a node's main thread works: SIGTERM may reach one of the client's threads, and
            # CPython then runs the handler only when the main thread's blocking call returns.
            "    for _ in range(1200):\n"
            "        time.sleep(0.1)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=HERE.parents[2])
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    (start,) = fake.records()
    assert alive(start["pid"])
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 1 and "Terminated: received SIGTERM" in errors
    assert not alive(start["pid"])


def test_infer_exits_1_with_the_log_tail_when_its_server_never_starts(fake, tmp_path, monkeypatch):
    fake.mode("never")
    monkeypatch.setattr(triton, "READY_TIMEOUT", 0.5)
    bundle = make_bundle(tmp_path / "bundle")
    output = tmp_path / "out.hdf5"
    result = CliRunner().invoke(main, bundle_arguments(bundle, output, server="triton"), catch_exceptions=False)
    assert result.exit_code == 1
    assert "fake tritonserver (never)" in result.output
    assert len(fake.records()) == 2 and not output.exists()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A bundle, its events from onnxruntime, and a pytriton server serving its model (stopped afterwards)."""
    if not TRITON_PYTHON.is_file():
        pytest.skip(MISSING)
    bundle = make_bundle(tmp_path_factory.mktemp("triton"))
    reference = bundle["root"] / "onnxruntime.hdf5"
    assert CliRunner().invoke(main, bundle_arguments(bundle, reference), catch_exceptions=False).exit_code == 0
    ports = [str(port) for port in triton.free_ports(3)]
    log = open(bundle["root"] / "pytriton.log", "wb")
    server = subprocess.Popen([str(TRITON_PYTHON), str(PYTRITON_SERVER), str(bundle["repository"]), MODEL, *ports],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **triton_environment()},
                              start_new_session=True)
    url = f"127.0.0.1:{ports[0]}"
    try:
        wait_ready(url, server, bundle["root"] / "pytriton.log")
        yield SimpleNamespace(bundle=bundle, reference=read_node_events(reference), url=url)
    finally:
        stop(server)
        log.close()


def wait_ready(url: str, server: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                if client.is_model_ready(MODEL):
                    return
            except Exception:
                pass
            time.sleep(0.5)
        raise AssertionError(f"pytriton not ready in {timeout} s: {log.read_text(errors='replace')[-2000:]}")
    finally:
        client.close()


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (pytriton and the tritonserver it runs), SIGKILL if it lingers."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    try:
        os.killpg(server.pid, signal.SIGKILL)  # the tritonserver pytriton started, if it outlived pytriton
    except ProcessLookupError:
        pass


def assert_same_events(found, reference) -> None:
    """Same windows, same ONNX model, same onnxruntime kernels: the logits agree to float32 round-off (Triton's
    dynamic batching may regroup windows, and the two virtualenvs may hold different onnxruntime builds), so
    statistics agree to 1e-5 relative and every event and recovered injection keeps its time exactly."""
    for name in ("background", "zero_lag", "foreground"):
        ours, theirs = getattr(found, name), getattr(reference, name)
        np.testing.assert_array_equal(ours.detection_time, theirs.detection_time)
        np.testing.assert_allclose(ours.detection_statistic, theirs.detection_statistic, rtol=1e-5, atol=1e-6)
        assert ours.Tb == theirs.Tb
    assert found.branches == reference.branches


@needs_triton
def test_triton_url_finds_what_onnxruntime_finds(real, tmp_path):
    output = tmp_path / "triton.hdf5"
    args = bundle_arguments(real.bundle, output, server="triton", extra=["--triton-url", real.url])
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert_same_events(read_node_events(output), real.reference)


@needs_triton
def test_triton_url_with_another_kernel_exits_2(real, tmp_path):
    args = bundle_arguments(real.bundle, tmp_path / "out.hdf5", server="triton", extra=["--triton-url", real.url])
    other = write_repository(tmp_path / "repo", kernel=128)
    args[args.index("--repository") + 1] = str(other)
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2 and "[2, 128]" in result.output


@needs_triton
def test_own_server_finds_what_onnxruntime_finds(real, fake, tmp_path, monkeypatch):
    """aframe-infer starts its own 'tritonserver' (the fake, turning into pytriton on the ports it was given)."""
    fake.mode("pytriton")
    monkeypatch.setenv("FAKE_TRITON_PYTHON", str(TRITON_PYTHON))
    for name, value in triton_environment().items():
        monkeypatch.setenv(name, value)
    output = tmp_path / "own.hdf5"
    result = CliRunner().invoke(main, bundle_arguments(real.bundle, output, server="triton"),
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert_same_events(read_node_events(output), real.reference)
    (start,) = fake.records()
    assert not alive(start["pid"])


@needs_triton
def test_tritonserver_option_runs_that_binary(real, tmp_path):
    """--tritonserver PATH (not on PATH): a wrapper that sets its own environment and serves through pytriton."""
    record = tmp_path / "starts.jsonl"
    wrapper = pytriton_wrapper(tmp_path / "my-tritonserver", record)
    output = tmp_path / "own.hdf5"
    args = bundle_arguments(real.bundle, output, server="triton", extra=["--tritonserver", str(wrapper)])
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert_same_events(read_node_events(output), real.reference)
    (start,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert start["mode"] == "pytriton" and not alive(start["pid"])
