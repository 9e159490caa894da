"""The model repository's contract, one definition for ``aframe-export`` (which writes it) and ``aframe-infer``.

Layout: ``<repository>/<model>/config.pbtxt`` and ``<repository>/<model>/1/`` holding ``model.onnx``, ``model.pt``
(TorchScript), ``model.pt2`` (the ``torch.export`` program that in-process backends run and compile), ``check.npy``
(the whitened windows every backend is checked on), ``export.json`` (the fp32 torch logits on those windows and the
max |Δ| of each backend and precision from them) and, when one was built, ``model.plan``. Nothing is written inside a
repository after export: what the infer nodes compile (TensorRT plans, AOTInductor packages) is cached beside it. The
network takes one FP32 input ``whitened`` with dims ``[ifos, kernel samples]`` and gives one FP32 output
``discriminator`` with dims ``[1]`` (dims without the batch). A repository, model, version or file that is missing, or
a model whose input is not ``[ifos, kernel]``, is an ``InputError`` (exit 2) before any data are read.
``config.pbtxt`` is built and checked as a protobuf (tritonclient's schema), imported only when needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from executables.common.errors import InputError

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2 as pb

INPUT, OUTPUT, VERSION = "whitened", "discriminator", "1"
PLATFORMS = {"onnx": "onnxruntime_onnx", "plan": "tensorrt_plan"}
ONNX, TORCHSCRIPT, PROGRAM, PLAN = "model.onnx", "model.pt", "model.pt2", "model.plan"
CHECK_WINDOWS, CHECKS = "check.npy", "export.json"
#: Largest |Δ| against the fp32 torch logits accepted at each precision (export's --tolerance replaces fp32's).
#: Reduced precisions are judged on logits of order 1-10: fp16 keeps 11 bits of mantissa, bf16 8.
TOLERANCES = {"fp32": 1e-4, "fp16": 0.05, "bf16": 0.25}


@dataclass(frozen=True)
class ModelShape:
    """What the node feeds the model: ``ifos`` channels of ``kernel`` samples per window."""

    ifos: int
    kernel: int

    @property
    def dims(self) -> list[int]:
        return [self.ifos, self.kernel]


def model_config(name: str, platform: str, max_batch_size: int, num_ifos: int, kernel_samples: int,
                 instances: int, device: str) -> pb.ModelConfig:
    """One FP32 input ``whitened`` (ifos, kernel samples), one FP32 output ``discriminator`` (1), dynamic batching."""
    from tritonclient.grpc import model_config_pb2 as pb

    if platform not in PLATFORMS.values():
        raise ValueError(f"platform must be one of {sorted(PLATFORMS.values())}, got {platform!r}")
    if min(max_batch_size, num_ifos, kernel_samples, instances) < 1:
        raise ValueError(f"batch size {max_batch_size}, ifos {num_ifos}, kernel samples {kernel_samples} and "
                         f"instances {instances} must all be >= 1")
    kind = pb.ModelInstanceGroup.KIND_GPU if device == "cuda" else pb.ModelInstanceGroup.KIND_CPU
    return pb.ModelConfig(
        name=name,
        platform=platform,
        max_batch_size=max_batch_size,
        input=[pb.ModelInput(name=INPUT, data_type=pb.TYPE_FP32, dims=[num_ifos, kernel_samples])],
        output=[pb.ModelOutput(name=OUTPUT, data_type=pb.TYPE_FP32, dims=[1])],
        instance_group=[pb.ModelInstanceGroup(count=instances, kind=kind)],
        dynamic_batching=pb.ModelDynamicBatching(),
    )


def config_text(config: pb.ModelConfig) -> str:
    """``config.pbtxt`` text of ``config``, parsed back to prove tritonclient's schema reads it unchanged."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    text = text_format.MessageToString(config)
    parsed = text_format.Parse(text, pb.ModelConfig())
    if parsed != config:
        raise RuntimeError(f"config.pbtxt of {config.name} does not parse back to itself:\n{text}")
    return text


def model_version(repository: Path, model_name: str) -> Path:
    """``<repository>/<model_name>/1``, each level checked so a missing one is named."""
    repository = Path(repository)
    if not repository.is_dir():
        raise InputError(repository, None, "no such model repository (run aframe-export first)")
    model = repository / model_name
    if not model.is_dir():
        raise InputError(repository, model_name, "model missing from the repository")
    version = model / VERSION
    if not version.is_dir():
        raise InputError(model, VERSION, "model version 1 missing")
    return version


def model_file(repository: Path, model_name: str, name: str) -> Path:
    """``<repository>/<model_name>/1/<name>``, checked to exist."""
    version = model_version(repository, model_name)
    path = version / name
    if not path.is_file():
        raise InputError(version, name, "model file missing")
    return path


def check_config(repository: Path, model_name: str, shape: ModelShape) -> int:
    """Check ``config.pbtxt`` against the contract and ``shape``; return its ``max_batch_size``."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    path = Path(repository) / model_name / "config.pbtxt"
    if not path.is_file():
        raise InputError(path.parent, path.name, "model configuration missing")
    try:
        config = text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise InputError(path, None, f"not a Triton model configuration ({exc})") from None
    check_dims(path, {tensor.name: list(tensor.dims) for tensor in config.input},
               {tensor.name: list(tensor.dims) for tensor in config.output}, shape)
    return int(config.max_batch_size)


def check_dims(source: object, inputs: dict[str, list[int]], outputs: dict[str, list[int]],
               shape: ModelShape) -> None:
    """The model takes ``whitened`` [ifos, kernel] and returns ``discriminator`` [1] (dims without the batch)."""
    if INPUT not in inputs:
        raise InputError(source, "input", f"no input named {INPUT!r} (inputs: {sorted(inputs)})")
    if [int(d) for d in inputs[INPUT]] != shape.dims:
        raise InputError(source, INPUT, f"input dims {list(inputs[INPUT])} do not match this run's "
                                        f"[ifos, kernel samples] = {shape.dims}")
    if OUTPUT not in outputs:
        raise InputError(source, "output", f"no output named {OUTPUT!r} (outputs: {sorted(outputs)})")
    if [int(d) for d in outputs[OUTPUT]] != [1]:
        raise InputError(source, OUTPUT, f"output dims {list(outputs[OUTPUT])}, expected [1]")
