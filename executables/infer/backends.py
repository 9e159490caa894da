"""Where the network runs for ``aframe-infer``: onnxruntime in-process, a Triton server over gRPC, or torch and
AOTInductor in-process (``executables.infer.inprocess``).

Each backend maps an iterable of whitened batches ``(batch, ifos, kernel)`` float32 to one logit per window, in
order: numpy arrays on the host, or (``on_device``) tensors already on the node's device, whose logits stay there.
They read the model repository ``aframe-export`` writes and check it against its contract
(``executables.repository.contract``) before any data are read. ``--precision`` is the network's: onnxruntime runs
the fp32 ONNX model only; Triton's TensorRT plan is fp32 or fp16.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aframe_dag.inference import SERVER_PRECISIONS, SERVERS
from executables.common.cpus import usable_cpus
from executables.common.errors import InputError, PermanentError, TransientError
from executables.repository.contract import (
    INPUT,
    OUTPUT,
    ModelShape,
    check_config,
    check_dims,
    model_file,
    model_version,
)

log = logging.getLogger(__name__)

#: Requests a Triton backend keeps in flight at once.
IN_FLIGHT = 4


def _logits(source: object, batch: np.ndarray, output: np.ndarray) -> np.ndarray:
    output = np.asarray(output)
    if output.shape != (len(batch), 1):
        raise InputError(source, OUTPUT, f"returned shape {output.shape} for a batch of {len(batch)}, "
                                         f"expected ({len(batch)}, 1)")
    return output[:, 0].astype(np.float32, copy=False)


class OnnxBackend:
    """``model.onnx`` in onnxruntime, in this process (CPU, or CUDA when ``device`` is cuda)."""

    def __init__(self, repository: Path, model_name: str, shape: ModelShape, device: str) -> None:
        import onnxruntime as ort

        check_config(repository, model_name, shape)
        self.path = model_file(repository, model_name, "model.onnx")
        provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
        if provider not in ort.get_available_providers():
            raise PermanentError(f"--device {device}: onnxruntime has no {provider} here "
                                 f"(it has {', '.join(ort.get_available_providers())})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = usable_cpus()  # the node's request_cpus, not every core of a shared machine
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=[provider])
        except Exception as exc:
            raise InputError(self.path, None, f"onnxruntime cannot load it ({exc})") from None
        inputs = {node.name: node.shape[1:] for node in self.session.get_inputs()}
        outputs = {node.name: node.shape[1:] for node in self.session.get_outputs()}
        check_dims(self.path, inputs, outputs, shape)

    def run(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for batch in batches:
            (output,) = self.session.run([OUTPUT], {INPUT: batch})
            yield _logits(self.path, batch, output)

    def close(self) -> None:
        pass


class TritonBackend:
    """A Triton server at ``url`` over gRPC, with up to ``in_flight`` requests outstanding at once."""

    def __init__(self, url: str, model_name: str, shape: ModelShape, batch_size: int,
                 in_flight: int = IN_FLIGHT) -> None:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        self.url, self.model_name, self.in_flight = url, model_name, in_flight
        self.client = grpcclient.InferenceServerClient(url)
        source = f"triton://{url}/{model_name}"
        try:
            ready = self.client.is_model_ready(model_name)
            config = self.client.get_model_config(model_name, as_json=True)["config"] if ready else None
        except InferenceServerException as exc:
            self.client.close()
            raise TransientError(f"{source}: the server does not answer ({exc.message()})") from None
        if config is None:
            self.client.close()
            raise InputError(source, None, "the server has no ready model of this name")
        try:
            check_dims(source, {t["name"]: t.get("dims", []) for t in config.get("input", [])},
                       {t["name"]: t.get("dims", []) for t in config.get("output", [])}, shape)
            limit = int(config.get("max_batch_size", 0))
            if limit and batch_size > limit:
                raise InputError(source, "max_batch_size", f"is {limit}, smaller than --batch-size {batch_size}")
        except InputError:
            self.client.close()
            raise
        self.source = source

    def run(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Outputs in the order of ``batches``; the next requests are sent while earlier ones are served."""
        import tritonclient.grpc as grpcclient

        slots = threading.Semaphore(self.in_flight)
        done: dict[int, object] = {}
        ready = threading.Condition()
        pending: list[tuple[int, np.ndarray]] = []

        def callback(index: int, result, error) -> None:
            with ready:
                done[index] = error if error is not None else result.as_numpy(OUTPUT)
                ready.notify_all()
            slots.release()

        def collect(index: int, batch: np.ndarray) -> np.ndarray:
            with ready:
                ready.wait_for(lambda: index in done)
                value = done.pop(index)
            if isinstance(value, Exception):
                raise TransientError(f"{self.source}: inference failed ({value})")
            return _logits(self.source, batch, value)

        for index, batch in enumerate(batches):
            slots.acquire()
            request = grpcclient.InferInput(INPUT, list(batch.shape), "FP32")
            request.set_data_from_numpy(batch)
            self.client.async_infer(self.model_name, [request],
                                    lambda result, error, i=index: callback(i, result, error),
                                    outputs=[grpcclient.InferRequestedOutput(OUTPUT)])
            pending.append((index, batch))
            while pending and pending[0][0] in done:
                yield collect(*pending.pop(0))
        for index, batch in pending:
            yield collect(index, batch)

    def close(self) -> None:
        self.client.close()


#: The backends that take batches on the device (whitened there) and keep their logits there.
ON_DEVICE = ("torch", "aotinductor")


@dataclass(frozen=True)
class TritonOptions:
    """How ``--server triton`` gets its server: one running at ``url``, or its own ``binary`` (inside ``image``
    when given) serving this GPU's TensorRT plan where one can be built."""

    url: str | None = None
    image: str | None = None
    binary: str = "tritonserver"


@contextmanager
def open_backend(server: str, repository: Path, model_name: str, shape: ModelShape, device: str, batch_size: int,
                 precision: str = "fp32", triton: TritonOptions = TritonOptions()) -> Iterator:
    """The backend ``server`` names at ``precision``, closed (and its own Triton server stopped) when the block ends."""
    if server in SERVER_PRECISIONS and precision not in SERVER_PRECISIONS[server]:
        raise PermanentError(f"--precision {precision}: --server {server} runs the network at "
                             f"{' or '.join(SERVER_PRECISIONS[server])} only")
    if server == "onnxruntime":
        backend = OnnxBackend(repository, model_name, shape, device)
    elif server in ON_DEVICE:
        from executables.infer.inprocess import AotiBackend, TorchBackend

        backend = (TorchBackend if server == "torch" else AotiBackend)(repository, model_name, shape, device,
                                                                      precision)
    elif server == "triton":
        model_version(repository, model_name)
        check_config(repository, model_name, shape)
        if triton.url is None:
            from executables.infer.plans import plan_repository
            from executables.infer.triton import TritonServer, sigterm_raises

            with sigterm_raises(), plan_repository(repository, model_name, shape, device, precision == "fp16",
                                                   triton.image) as served, \
                    TritonServer(served, model_name, triton.image, binary=triton.binary) as own:
                assert own.url is not None
                backend = TritonBackend(own.url, model_name, shape, batch_size)
                try:
                    yield backend
                finally:
                    backend.close()
            return
        backend = TritonBackend(triton.url, model_name, shape, batch_size)
    else:
        raise ValueError(f"unknown server {server!r}; expected one of {', '.join(SERVERS)}")
    try:
        yield backend
    finally:
        backend.close()
