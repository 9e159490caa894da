"""Where and at what precision the network runs at inference: one table for the config, the plan and aframe-infer.

Stdlib only: the node programs import it too (as they do ``aframe_dag.timeslides``).
"""

from __future__ import annotations

SERVERS = ("triton", "onnxruntime", "torch", "aotinductor")
PRECISIONS = ("fp32", "fp16", "bf16")
#: What each backend runs the network at: onnxruntime the fp32 ONNX model; Triton a TensorRT plan built in fp32 or
#: fp16; torch and AOTInductor cast the torch.export program.
SERVER_PRECISIONS = {"onnxruntime": ("fp32",), "triton": ("fp32", "fp16"), "torch": PRECISIONS,
                     "aotinductor": PRECISIONS}

#: ``[infer] server = auto`` on each device: the fastest backend measured there. BENCHMARKS.md, "Inference": on the
#: CPU onnxruntime runs the network 1.12-2.07x faster than torch. BENCHMARKS.md, "GPU check": no GPU figure is
#: measured yet, so cuda keeps Triton (aframe's production path, with this GPU's TensorRT plan); the first GPU
#: run's table (benchmarks/gpu_check.py, seconds of data per second per backend) decides this line.
AUTO = {"cpu": "onnxruntime", "cuda": "triton"}


def server_for(server: str, device: str) -> str:
    """The backend ``[infer] server`` means on ``device`` (``auto`` resolved by ``AUTO``)."""
    return AUTO[device] if server == "auto" else server


def precision_of(precision: str, tensorrt_fp16: bool) -> str:
    """``[infer] precision``, with the old ``tensorrt_fp16 = true`` an alias of ``precision = fp16``."""
    return "fp16" if tensorrt_fp16 else precision
