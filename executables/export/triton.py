"""The Triton model configuration (``config.pbtxt``) of the exported network, built and checked as a protobuf."""

from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

INPUT, OUTPUT = "whitened", "discriminator"
PLATFORMS = {"onnx": "onnxruntime_onnx", "plan": "tensorrt_plan"}


def model_config(name: str, platform: str, max_batch_size: int, num_ifos: int, kernel_samples: int,
                 instances: int, device: str) -> pb.ModelConfig:
    """One FP32 input ``whitened`` (ifos, kernel samples), one FP32 output ``discriminator`` (1), dynamic batching."""
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
    text = text_format.MessageToString(config)
    parsed = text_format.Parse(text, pb.ModelConfig())
    if parsed != config:
        raise RuntimeError(f"config.pbtxt of {config.name} does not parse back to itself:\n{text}")
    return text

