"""The infer node's own ``tritonserver``: free ports, readiness, and a stop that also runs on SIGTERM (DESIGN §6, §12).

``TritonServer`` starts ``tritonserver`` (a name looked up on PATH, or the binary's path; inside
``apptainer exec --nv IMAGE`` when an image is given), serving one model of a model repository on three free
localhost ports (gRPC, HTTP, metrics). It waits until the server and the model report ready (gRPC health calls)
within a timeout; a start that fails (the process exits, or readiness times out) is retried once with fresh ports,
then raises ``TransientError`` with the tail of the server's log; a binary that cannot be run at all exits 2.
Leaving the ``with`` block -- normally, on an exception, or on SIGTERM (turned into ``Terminated``) -- stops the
server's whole process group (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from executables.common.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

#: Seconds a server (and its model) may take to report ready.
READY_TIMEOUT = 300.0
#: Seconds between readiness polls.
POLL_INTERVAL = 0.5
#: Seconds a server may take to exit after SIGTERM before it is killed.
STOP_GRACE = 30.0
#: Characters of the server log quoted when it fails to start.
LOG_TAIL = 4000


class Terminated(TransientError):
    """The node got SIGTERM (condor_rm, a preemption): the server is stopped and the node exits 1."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on now (the kernel picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def server_command(repository: Path, model_name: str, ports: list[int], image: str | None = None,
                   binary: str = "tritonserver") -> list[str]:
    """The command line of one server: explicit model control, only ``model_name`` loaded, the given ports."""
    grpc, http, metrics = ports
    command = [binary, f"--model-repository={repository}", "--model-control-mode=explicit",
               f"--load-model={model_name}", f"--grpc-port={grpc}", f"--http-port={http}",
               f"--metrics-port={metrics}", "--exit-on-error=true"]
    if image:
        command = ["apptainer", "exec", "--nv", "--bind", str(repository), image, *command]
    return command


def _tail(path: Path) -> str:
    with suppress(OSError):
        text = path.read_text(encoding="utf-8", errors="replace")
        return text[-LOG_TAIL:] if text.strip() else "(the server wrote nothing)"
    return "(no server log)"


class TritonServer:
    """A ``tritonserver`` this node owns: ``with TritonServer(repo, name) as server: server.url``."""

    def __init__(self, repository: Path, model_name: str, image: str | None = None,
                 timeout: float | None = None, attempts: int = 2, binary: str = "tritonserver") -> None:
        self.repository = Path(repository).absolute()
        self.model_name = model_name
        self.image = image
        self.binary = binary
        self.timeout = READY_TIMEOUT if timeout is None else timeout
        self.attempts = attempts
        self.url: str | None = None
        self._process: subprocess.Popen | None = None
        self._directory: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> TritonServer:
        self._directory = tempfile.TemporaryDirectory(prefix="aframe-triton-")
        try:
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._cleanup()

    def _start(self) -> None:
        assert self._directory is not None
        failures = []
        for attempt in range(1, self.attempts + 1):
            ports = free_ports(3)
            command = server_command(self.repository, self.model_name, ports, self.image, self.binary)
            log_path = Path(self._directory.name, f"tritonserver-{attempt}.log")
            log.info("starting Triton (attempt %d of %d): %s", attempt, self.attempts, " ".join(command))
            with open(log_path, "wb") as output:
                try:
                    self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL, start_new_session=True)
                except OSError as exc:  # no such binary, or not executable: no retry can fix it
                    raise PermanentError(f"cannot start the Triton server: {command[0]}: {exc.strerror} "
                                         "(--tritonserver: a name on PATH or the binary's path)") from None
            url = f"127.0.0.1:{ports[0]}"
            problem = self._wait_ready(url)
            if problem is None:
                self.url = url
                log.info("Triton ready at %s (model %s)", url, self.model_name)
                return
            self._stop()
            failures.append(f"attempt {attempt}: {problem}")
            log.warning("Triton did not start: %s", problem)
        raise TransientError(f"tritonserver did not start ({'; '.join(failures)}); log tail:\n{_tail(log_path)}")

    def _wait_ready(self, url: str) -> str | None:
        """None once the server and model are ready; otherwise why not (exited, or timed out)."""
        import tritonclient.grpc as grpcclient

        assert self._process is not None
        deadline = time.monotonic() + self.timeout
        client = grpcclient.InferenceServerClient(url)
        try:
            while True:
                code = self._process.poll()
                if code is not None:
                    return f"the server exited with status {code}"
                with suppress(Exception):
                    if client.is_server_ready(client_timeout=2.0) and \
                            client.is_model_ready(self.model_name, client_timeout=2.0):
                        return None
                if time.monotonic() >= deadline:
                    return f"not ready after {self.timeout:g} s"
                time.sleep(POLL_INTERVAL)
        finally:
            client.close()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            log.warning("Triton ignored SIGTERM for %g s; killing it", STOP_GRACE)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _cleanup(self) -> None:
        self._stop()
        self.url = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` (so ``finally`` blocks, such as the server's stop, run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated("received SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
