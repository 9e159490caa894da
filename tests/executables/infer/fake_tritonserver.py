"""A stand-in ``tritonserver`` for the launcher tests, installed on PATH under that name by the tests.

It records its command line and pid (one JSON line appended to ``$FAKE_TRITON_RECORD``), then behaves as
``$FAKE_TRITON_MODE`` says:

- ``ready``: answers Triton's gRPC health calls (ServerReady, ModelReady) on its ``--grpc-port`` -- with the
  servicer tritonclient ships -- until SIGTERM;
- ``never``: prints a line and never becomes ready;
- ``exit``: prints a line and exits 1 at once (a model that fails to load);
- ``pytriton``: becomes a real Triton (``pytriton_server.py`` in ``$FAKE_TRITON_PYTHON``) on the given ports.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent import futures
from pathlib import Path


def options(argv: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)


def serve_health(port: str) -> None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    class Health(service_pb2_grpc.GRPCInferenceServiceServicer):
        def ServerReady(self, request, context):  # noqa: N802 (the gRPC method's name)
            return service_pb2.ServerReadyResponse(ready=True)

        def ModelReady(self, request, context):  # noqa: N802
            return service_pb2.ModelReadyResponse(ready=True)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Health(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def main() -> None:
    mode = os.environ.get("FAKE_TRITON_MODE", "ready")
    with open(os.environ["FAKE_TRITON_RECORD"], "a", encoding="utf-8") as record:
        record.write(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), "mode": mode}) + "\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    given = options(sys.argv[1:])
    print(f"fake tritonserver ({mode}) for {given.get('load-model')}", flush=True)
    if mode == "exit":
        print("fake: model failed to load", flush=True)
        sys.exit(1)
    if mode == "never":
        while True:
            time.sleep(1)
    if mode == "pytriton":
        script = Path(__file__).with_name("pytriton_server.py")
        python = os.environ["FAKE_TRITON_PYTHON"]
        os.execv(python, [python, str(script), given["model-repository"], given["load-model"], given["grpc-port"],
                          given["http-port"], given["metrics-port"]])
    serve_health(given["grpc-port"])


if __name__ == "__main__":
    main()
