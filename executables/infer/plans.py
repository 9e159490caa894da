"""The TensorRT plan of this infer node's GPU: built once per device and ONNX model, then served (DESIGN §12).

A plan is tied to the GPU model and the TensorRT version that built it, so the export node's plan (if any) cannot
serve every execute node. With ``--server triton`` on ``cuda``, TensorRT importable and ``tritonserver`` outside a
container (a container's TensorRT may not load a plan built outside it), the node looks up
``<repository>.plans/<model>/<device>-trt<version>-<fp16|fp32>-b<max batch>-<onnx sha256>.plan``; the first
node on a device builds it from the repository's ``model.onnx`` (``executables.infer.cache``: under a lock, moved
in atomically, beside the repository). The node's own Triton then serves a node-local copy of the
repository: the same ``config.pbtxt`` with ``platform: tensorrt_plan`` on GPU instances, and ``1/model.plan``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from executables.infer.cache import cache_directory, cached_file, file_sha256, safe
from executables.repository.contract import PLATFORMS, VERSION, ModelShape, check_config, config_text, model_file
from executables.repository.tensorrt import build_plan, tensorrt_version, unavailable_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanKey:
    """What a plan depends on: the GPU model, the TensorRT version, the precision, the largest batch of its
    optimization profile and the ONNX file's bytes."""

    device: str
    tensorrt: str
    fp16: bool
    max_batch_size: int
    onnx_sha256: str

    @property
    def filename(self) -> str:
        device = safe(self.device, "gpu")
        precision = "fp16" if self.fp16 else "fp32"
        return f"{device}-trt{self.tensorrt}-{precision}-b{self.max_batch_size}-{self.onnx_sha256[:16]}.plan"


def cached_plan(cache: Path, key: PlanKey, build: Callable[[Path], object]) -> Path:
    """The cached plan of ``key``, built first (once, under a lock shared by every node) if it is missing."""
    return cached_file(cache, key.filename, build, "TensorRT plan")


def serving_repository(repository: Path, model_name: str, plan: Path, destination: Path) -> Path:
    """``destination`` made a repository serving ``plan``: the model's config as a ``tensorrt_plan`` on GPUs."""
    source = Path(repository) / model_name / "config.pbtxt"
    config = text_format.Parse(source.read_text(encoding="utf-8"), pb.ModelConfig())
    config.platform = PLATFORMS["plan"]
    config.ClearField("default_model_filename")
    for group in config.instance_group:
        group.kind = pb.ModelInstanceGroup.KIND_GPU
    version = destination / model_name / VERSION
    version.mkdir(parents=True)
    (destination / model_name / "config.pbtxt").write_text(config_text(config), encoding="utf-8")
    shutil.copyfile(plan, version / "model.plan")
    return destination


def device_name() -> str:
    """The name of the GPU this job sees first (``CUDA_VISIBLE_DEVICES`` picks it), e.g. NVIDIA H100 80GB HBM3."""
    import torch

    return torch.cuda.get_device_name(0)


@contextmanager
def plan_repository(repository: Path, model_name: str, shape: ModelShape, device: str, fp16: bool,
                    image: str | None = None, build: Callable[..., object] = build_plan) -> Iterator[Path]:
    """The repository this node's own Triton serves: a node-local one with this GPU's plan, or ``repository``
    itself when no plan can be built here (the CPU, no TensorRT, or a server in a container ``image``, whose
    TensorRT may not load a plan built outside it). ``build`` has ``build_plan``'s signature."""
    reason = (f"tritonserver runs in {image}, whose TensorRT may differ from this node's" if image
              else unavailable_reason(device))
    if reason is not None:
        log.info("serving the exported repository as it is (no TensorRT plan: %s)", reason)
        yield repository
        return
    max_batch_size = check_config(repository, model_name, shape)
    onnx = model_file(repository, model_name, "model.onnx")
    key = PlanKey(device_name(), tensorrt_version(), fp16, max_batch_size, file_sha256(onnx))
    plan = cached_plan(cache_directory(repository, model_name), key,
                       lambda path: build(onnx, path, max_batch_size, shape.ifos, shape.kernel, fp16))
    with tempfile.TemporaryDirectory(prefix="aframe-plan-repo-") as scratch:
        yield serving_repository(repository, model_name, plan, Path(scratch))
