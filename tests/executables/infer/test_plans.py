"""The infer node's TensorRT plan cache: key, build-once under a lock, reuse, and the repository it serves.

TensorRT and a GPU are not here, so the builder is a fake with ``build_plan``'s signature and the device name and
TensorRT version are patched; the real build runs only on a GPU machine.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from executables.infer import plans
from executables.infer.plans import PlanKey, cache_directory, cached_plan, plan_repository, serving_repository
from executables.repository.contract import ModelShape, check_config, config_text, model_config
from tests.executables.infer.infer_inputs import MODEL, write_repository

SHAPE = ModelShape(2, 256)
H100 = "NVIDIA H100 80GB HBM3"


class FakeBuilder:
    """``build_plan`` without TensorRT: writes what it was asked for, and remembers each call."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple] = []
        self.delay = delay

    def __call__(self, onnx_path: Path, plan_path: Path, max_batch_size: int, num_ifos: int, kernel_samples: int,
                 fp16: bool) -> Path:
        self.calls.append((Path(onnx_path).name, max_batch_size, num_ifos, kernel_samples, fp16))
        time.sleep(self.delay)
        Path(plan_path).write_bytes(f"plan b{max_batch_size} {num_ifos}x{kernel_samples} fp16={fp16}".encode())
        return plan_path


@pytest.fixture
def repository(tmp_path):
    """A repository as aframe-export writes it on a CPU: ONNX, two CPU instances, max batch 16."""
    root = write_repository(tmp_path / "model_repo")
    config = model_config(MODEL, "onnxruntime_onnx", 16, SHAPE.ifos, SHAPE.kernel, 2, "cpu")
    (root / MODEL / "config.pbtxt").write_text(config_text(config), encoding="utf-8")
    return root


@pytest.fixture
def gpu(monkeypatch):
    """This process looks like a job on an H100 with TensorRT 10.3.0."""
    monkeypatch.setattr(plans, "unavailable_reason", lambda device: None if device == "cuda" else "cpu")
    monkeypatch.setattr(plans, "device_name", lambda: H100)
    monkeypatch.setattr(plans, "tensorrt_version", lambda: "10.3.0")


def read_config(path: Path) -> pb.ModelConfig:
    return text_format.Parse(path.read_text(encoding="utf-8"), pb.ModelConfig())


def test_the_key_names_device_tensorrt_precision_batch_and_onnx_bytes(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx bytes")
    digest = plans.file_sha256(onnx)
    assert digest == hashlib.sha256(b"onnx bytes").hexdigest()
    key = PlanKey(H100, "10.3.0", True, 128, digest)
    assert key.filename == f"NVIDIA-H100-80GB-HBM3-trt10.3.0-fp16-b128-{digest[:16]}.plan"
    others = {PlanKey("NVIDIA A100-SXM4-40GB", "10.3.0", True, 128, digest), PlanKey(H100, "8.6.1", True, 128, digest),
              PlanKey(H100, "10.3.0", False, 128, digest), PlanKey(H100, "10.3.0", True, 64, digest),
              PlanKey(H100, "10.3.0", True, 128, hashlib.sha256(b"other").hexdigest())}
    assert len({other.filename for other in others} | {key.filename}) == 6


def test_the_cache_lies_beside_the_repository_not_in_it(tmp_path):
    results = tmp_path / "results"
    assert cache_directory(results / "model_repo", MODEL) == results / "model_repo.plans" / MODEL


def test_a_plan_is_built_once_then_reused(tmp_path):
    key, build = PlanKey(H100, "10.3.0", False, 16, "ab" * 32), FakeBuilder()

    def make(path: Path) -> None:
        build(Path("model.onnx"), path, 16, 2, 256, False)

    first = cached_plan(tmp_path / "cache", key, make)
    second = cached_plan(tmp_path / "cache", key, make)
    assert first == second == tmp_path / "cache" / key.filename
    assert first.read_bytes() == b"plan b16 2x256 fp16=False"
    assert len(build.calls) == 1


def test_nodes_building_the_same_plan_at_once_build_it_once(tmp_path):
    key, build = PlanKey(H100, "10.3.0", False, 16, "cd" * 32), FakeBuilder(delay=0.5)
    start, found = threading.Barrier(3), []

    def node() -> None:
        start.wait()
        found.append(cached_plan(tmp_path / "cache", key, lambda path: build(Path("m.onnx"), path, 16, 2, 256, False)))

    threads = [threading.Thread(target=node) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(found) == 3 and len(set(found)) == 1
    assert len(build.calls) == 1


def test_a_failed_build_leaves_nothing_and_the_next_node_builds_it(tmp_path):
    key, cache = PlanKey(H100, "10.3.0", False, 16, "ef" * 32), tmp_path / "cache"
    cache.mkdir()
    stale = cache / f".{key.filename}.tmp-999999999-0badc0de"  # left by a builder that was killed
    stale.write_bytes(b"half a plan")

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("TensorRT failed to build an engine")

    with pytest.raises(RuntimeError, match="failed to build"):
        cached_plan(cache, key, broken)
    assert not (cache / key.filename).exists()
    assert [p.name for p in cache.iterdir()] == [f".{key.filename}.lock"]
    plan = cached_plan(cache, key, lambda path: path.write_bytes(b"plan"))
    assert plan.read_bytes() == b"plan"


def test_the_served_repository_is_a_tensorrt_plan_on_gpus(repository, tmp_path):
    plan = tmp_path / "built.plan"
    plan.write_bytes(b"engine")
    before = sorted(p.relative_to(repository) for p in repository.rglob("*"))
    served = serving_repository(repository, MODEL, plan, tmp_path / "served")
    config, original = read_config(served / MODEL / "config.pbtxt"), read_config(repository / MODEL / "config.pbtxt")
    assert config.platform == "tensorrt_plan" and original.platform == "onnxruntime_onnx"
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, pb.ModelInstanceGroup.KIND_GPU)]
    assert config.input == original.input and config.output == original.output
    assert config.max_batch_size == 16 and config.HasField("dynamic_batching")
    assert sorted(p.relative_to(served).as_posix() for p in served.rglob("*") if p.is_file()) == [
        f"{MODEL}/1/model.plan", f"{MODEL}/config.pbtxt"]
    assert (served / MODEL / "1" / "model.plan").read_bytes() == b"engine"
    assert check_config(served, MODEL, SHAPE) == 16
    assert sorted(p.relative_to(repository) for p in repository.rglob("*")) == before


def test_on_the_cpu_the_export_is_served_as_it_is(repository):
    build = FakeBuilder()
    with plan_repository(repository, MODEL, SHAPE, "cpu", False, build=build) as served:
        assert served == repository
    assert build.calls == []
    assert not cache_directory(repository, MODEL).exists()


def test_a_server_in_a_container_serves_the_export_as_it_is(repository, gpu):
    build = FakeBuilder()
    with plan_repository(repository, MODEL, SHAPE, "cuda", False, "tritonserver.sif", build=build) as served:
        assert served == repository
    assert build.calls == []


def test_on_a_gpu_the_node_serves_its_devices_plan_and_reuses_it(repository, gpu):
    build = FakeBuilder()
    with plan_repository(repository, MODEL, SHAPE, "cuda", False, build=build) as served:
        assert served != repository
        assert read_config(served / MODEL / "config.pbtxt").platform == "tensorrt_plan"
        assert (served / MODEL / "1" / "model.plan").read_bytes() == b"plan b16 2x256 fp16=False"
    assert not served.exists()  # the node-local copy goes with the node
    assert build.calls == [("model.onnx", 16, 2, 256, False)]
    (cached,) = cache_directory(repository, MODEL).glob("*.plan")
    digest = plans.file_sha256(repository / MODEL / "1" / "model.onnx")
    assert cached.name == PlanKey(H100, "10.3.0", False, 16, digest).filename

    with plan_repository(repository, MODEL, SHAPE, "cuda", False, build=build):
        pass
    assert len(build.calls) == 1  # the next node on this device reuses it
    with plan_repository(repository, MODEL, SHAPE, "cuda", True, build=build) as served:
        assert (served / MODEL / "1" / "model.plan").read_bytes() == b"plan b16 2x256 fp16=True"
    assert len(build.calls) == 2 and len(list(cache_directory(repository, MODEL).glob("*.plan"))) == 2
