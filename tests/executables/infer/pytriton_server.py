"""A real Triton server on CPU for the infer tests: pytriton serving an exported ``model.onnx`` through onnxruntime.

Runs in the separate Triton virtualenv (``make .venv-triton/.installed``; pytriton needs numpy<2), never in the
project's: ``.venv-triton/bin/python pytriton_server.py REPOSITORY MODEL GRPC HTTP METRICS``. pytriton's bundled
Triton has only the Python backend, so the model is a Python model that runs the repository's ONNX file with the
model name, input, output and ``max_batch_size`` of its ``config.pbtxt`` -- the same gRPC protocol a production
Triton serving the ONNX directly speaks (DESIGN §12). Serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from google.protobuf import text_format
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig
from tritonclient.grpc import model_config_pb2


def main(repository: str, model: str, grpc: str, http: str, metrics: str) -> None:
    root = Path(repository, model)
    config = text_format.Parse((root / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    session = ort.InferenceSession(str(root / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (tensor_in,), (tensor_out,) = config.input, config.output

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        (output,) = session.run([tensor_out.name], {tensor_in.name: inputs[tensor_in.name]})
        return {tensor_out.name: output}

    with Triton(config=TritonConfig(grpc_port=int(grpc), http_port=int(http), metrics_port=int(metrics))) as triton:
        triton.bind(model_name=model, infer_func=infer,
                    inputs=[Tensor(name=tensor_in.name, dtype=np.float32, shape=tuple(tensor_in.dims))],
                    outputs=[Tensor(name=tensor_out.name, dtype=np.float32, shape=tuple(tensor_out.dims))],
                    config=ModelConfig(max_batch_size=config.max_batch_size))
        print("serving", model, "on gRPC port", grpc, flush=True)
        triton.serve()


if __name__ == "__main__":
    main(*sys.argv[1:])
