"""TensorRT plans from the exported ONNX network, built only where TensorRT and a CUDA device exist."""

from __future__ import annotations

import logging
from pathlib import Path

from executables.common.errors import PermanentError
from executables.repository.contract import INPUT

log = logging.getLogger(__name__)


def unavailable_reason(device: str) -> str | None:
    """Why no plan can be built here (``None`` when one can): TensorRT needs ``--device cuda``, the module, a GPU."""
    if device != "cuda":
        return "a TensorRT plan needs --device cuda"
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"the tensorrt Python module cannot be imported ({exc})"
    import torch

    if not torch.cuda.is_available():
        return "no usable CUDA device is visible to this job"
    return None


def tensorrt_version() -> str:
    """The TensorRT version that builds plans here: a plan loads only in a server with the same version."""
    import tensorrt

    return tensorrt.__version__


def plan_wanted(mode: str, device: str) -> bool:
    """``--tensorrt``: ``false`` never, ``auto`` when possible, ``true`` always (exit 2 when it cannot be)."""
    if mode == "false":
        return False
    reason = unavailable_reason(device)
    if reason is not None:
        if mode == "true":
            raise PermanentError(f"--tensorrt true: {reason}")
        log.info("no TensorRT plan: %s", reason)
        return False
    return True


def build_plan(onnx_path: Path, plan_path: Path, max_batch_size: int, num_ifos: int, kernel_samples: int,
               fp16: bool) -> Path:
    """Parse the ONNX file with TensorRT's parser and write a serialized engine for batches 1..max_batch_size."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)  # implied from TensorRT 10 on
    network = builder.create_network(0 if explicit is None else 1 << int(explicit))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(k)) for k in range(parser.num_errors))
        raise PermanentError(f"{onnx_path}: TensorRT cannot parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = (num_ifos, kernel_samples)
    profile.set_shape(INPUT, (1, *shape), (max_batch_size, *shape), (max_batch_size, *shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"{onnx_path}: TensorRT failed to build an engine (see its log above)")
    with open(plan_path, "wb") as handle:
        handle.write(serialized)
    log.info("TensorRT plan (%s) written: %s", "fp16" if fp16 else "fp32", plan_path)
    return plan_path
