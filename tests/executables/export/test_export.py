"""aframe-export (issue 10): TorchScript -> checked ONNX + Triton config.pbtxt, swapped in whole, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from click.testing import CliRunner
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from executables.common import trained
from executables.export.checks import run_checks
from executables.export.export import export_onnx, main
from executables.repository import contract
from executables.repository.contract import model_config
from executables.repository.program import at_precision, check_windows, export_program
from executables.train.model import build_resnet, to_torchscript

pytestmark = pytest.mark.usefixtures("restore_logging")

IFOS, FS, KERNEL, BATCH = ("H1", "L1"), 64, 1.5, 8
IFO_LIST = ",".join(IFOS)
SAMPLES = int(FS * KERNEL)


def tiny_torchscript(path, seed=0, recorded=True, **trained_for):
    """A tiny network as aframe-train saves it: with the record of its data settings (unless not `recorded`)."""
    torch.manual_seed(seed)
    model = build_resnet(len(IFOS), [1, 1], norm_groups=2)
    settings = {"ifos": list(IFOS), "sample_rate": FS, "kernel_length": KERNEL, "fduration": 1, "highpass": 32,
                "lowpass": None, "inference_sampling_rate": 4, **trained_for}
    extra = trained.extra_files(settings) if recorded else {}
    torch.jit.save(to_torchscript(model, torch.zeros(1, len(IFOS), SAMPLES)), str(path), _extra_files=extra)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_torchscript(tmp_path_factory.mktemp("train") / "model.pt")


def run(model, repository, *extra, ifos=IFO_LIST):
    args = ["--model", model, "--repository", repository, "--model-name", "aframe", "--batch-size", BATCH,
            "--ifos", ifos, "--sample-rate", FS, "--kernel-length", KERNEL, "--inference-sampling-rate", 4,
            "--tensorrt", "auto", "--tolerance", "1e-4", "--device", "cpu", *extra]
    return CliRunner().invoke(main, [str(arg) for arg in args])


def tree(root):
    return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_repository_holds_onnx_equal_to_torch_and_a_valid_config(model, tmp_path):
    repository, marker = tmp_path / "model_repo", tmp_path / "done" / "export.json"
    result = run(model, repository, "--done-marker", marker, "--node-hash", "h")
    assert result.exit_code == 0, result.output
    assert set(tree(repository)) == {Path("aframe/config.pbtxt"), Path("aframe/1/model.onnx"),
                                     Path("aframe/1/model.pt"), Path("aframe/1/model.pt2"),
                                     Path("aframe/1/check.npy"), Path("aframe/1/export.json")}
    assert (repository / "aframe/1/model.pt").read_bytes() == model.read_bytes()
    assert marker.is_file()

    session = onnxruntime.InferenceSession(str(repository / "aframe/1/model.onnx"),
                                           providers=["CPUExecutionProvider"])
    network = torch.jit.load(str(model)).eval()
    batch = torch.randn(5, len(IFOS), SAMPLES, generator=torch.Generator().manual_seed(7))  # not the max batch
    (found,) = session.run(["discriminator"], {"whitened": batch.numpy()})
    with torch.no_grad():
        expected = network(batch).numpy()
    assert found.shape == (5, 1)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4)

    config = text_format.Parse((repository / "aframe/config.pbtxt").read_text(), pb.ModelConfig())
    assert (config.name, config.platform, config.max_batch_size) == ("aframe", "onnxruntime_onnx", BATCH)
    (tensor_in,), (tensor_out,) = config.input, config.output
    assert (tensor_in.name, tensor_in.data_type, list(tensor_in.dims)) == ("whitened", pb.TYPE_FP32, [2, SAMPLES])
    assert (tensor_out.name, tensor_out.data_type, list(tensor_out.dims)) == ("discriminator", pb.TYPE_FP32, [1])
    (group,) = config.instance_group
    assert (group.count, group.kind) == (1, pb.ModelInstanceGroup.KIND_CPU)
    assert config.HasField("dynamic_batching")


def test_rerun_gives_the_same_bytes_and_replaces_the_whole_repository(model, tmp_path):
    repository = tmp_path / "model_repo"
    assert run(model, repository).exit_code == 0
    first = tree(repository)
    (repository / "aframe/2").mkdir()
    (repository / "aframe/2/stale.onnx").write_bytes(b"old")
    assert run(model, repository).exit_code == 0
    assert tree(repository) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_repo"]  # no staging left behind


def test_a_scripted_network_exports_too(tmp_path):
    class Mean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(len(IFOS), 4, 5)
            self.head = torch.nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(x).mean(-1))

    torch.jit.save(torch.jit.script(Mean()), str(tmp_path / "model.pt"))
    result = run(tmp_path / "model.pt", tmp_path / "repo")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "repo/aframe/1/model.onnx").is_file()


@pytest.mark.parametrize("setting, message", [({"kernel_length": 2.0}, "kernel_length: trained for 2.0, given 1.5"),
                                              ({"sample_rate": 128}, "sample_rate: trained for 128, given 64.0"),
                                              ({"ifos": ["H1", "V1"]}, "ifos: trained for ['H1', 'V1'], given")])
def test_a_model_trained_for_other_data_exits_2_naming_the_setting(tmp_path, setting, message):
    """The ResNet takes windows of any length: without the record, another run's model would export silently."""
    path = tiny_torchscript(tmp_path / "model.pt", **setting)
    result = run(path, tmp_path / "repo")
    assert result.exit_code == 2
    assert f"{path}: was trained for other data settings ({message}" in result.output
    assert not (tmp_path / "repo").exists()


def test_a_model_without_a_record_exports_with_a_warning(tmp_path, caplog):
    path = tiny_torchscript(tmp_path / "model.pt", recorded=False)
    result = run(path, tmp_path / "repo")
    assert result.exit_code == 0, result.output
    assert "records no training data settings" in caplog.text


@pytest.mark.parametrize("ifos", ["H1,L1,V1", "H1"])
def test_network_that_does_not_take_the_ifos_exits_2_naming_the_model(tmp_path, ifos):
    model = tiny_torchscript(tmp_path / "model.pt", recorded=False)  # trained elsewhere: the shape check decides
    result = run(model, tmp_path / "repo", ifos=ifos)
    assert result.exit_code == 2
    assert f"{model}: does not take whitened input of shape (batch, {len(ifos.split(','))} ifos" in result.output
    assert not (tmp_path / "repo").exists()


def test_network_with_the_wrong_output_exits_2(tmp_path):
    class Wide(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(-1)

    torch.jit.save(torch.jit.script(Wide()), str(tmp_path / "model.pt"))
    result = run(tmp_path / "model.pt", tmp_path / "repo")
    assert result.exit_code == 2
    assert f"{tmp_path / 'model.pt'}: returns (2, 2)" in result.output


@pytest.mark.parametrize("content", [None, b"not a zip archive", b"PK\x03\x04 truncated"])
def test_missing_or_corrupt_model_exits_2_naming_it(tmp_path, content):
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    result = run(path, tmp_path / "repo")
    assert result.exit_code == 2
    assert str(path) in result.output
    assert ("no such file" if content is None else "not a TorchScript model") in result.output
    assert not (tmp_path / "repo").exists()


def test_tensorrt_true_without_a_gpu_exits_2(model, tmp_path):
    result = run(model, tmp_path / "repo", "--tensorrt", "true")
    assert result.exit_code == 2
    assert "--tensorrt true: a TensorRT plan needs --device cuda" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2(model, tmp_path):
    result = run(model, tmp_path / "repo", "--device", "cuda")
    assert result.exit_code == 2
    assert "--device cuda: no usable CUDA device" in result.output


def test_onnx_that_differs_from_torch_beyond_tolerance_exits_2(model, tmp_path):
    result = run(model, tmp_path / "repo", "--tolerance", "1e-30")
    assert result.exit_code == 2
    assert "onnxruntime fp32 differs from fp32 torch by up to" in result.output
    assert "more than --tolerance 1e-30" in result.output
    assert not (tmp_path / "repo").exists()


def test_difference_is_measured_against_torch(tmp_path):
    exported = torch.jit.load(str(tiny_torchscript(tmp_path / "a.pt", seed=0)))
    other = torch.jit.load(str(tiny_torchscript(tmp_path / "b.pt", seed=1)))
    onnx = export_onnx(exported, len(IFOS), SAMPLES, tmp_path / "a.onnx")
    program = export_program(exported, len(IFOS), SAMPLES, 3)
    windows = check_windows(3, len(IFOS), SAMPLES)
    _, same = run_checks(exported, program, onnx, windows, "fp32", "cpu", 1e-4)
    assert [(c.backend, c.precision) for c in same] == [("onnxruntime", "fp32"), ("torch.export", "fp32")]
    assert all(c.max_abs_difference < 1e-5 and c.passed for c in same)
    _, differ = run_checks(other, program, onnx, windows, "fp32", "cpu", 1e-4)
    assert all(c.max_abs_difference > 1e-3 and not c.passed for c in differ)


@pytest.mark.parametrize(("option", "value", "hint"), [("--kernel-length", "1.51", "--kernel-length"),
                                                      ("--inference-sampling-rate", "5", "--inference-sampling-rate")])
def test_shapes_that_are_not_whole_samples_exit_2(model, tmp_path, option, value, hint):
    result = run(model, tmp_path / "repo", option, value)
    assert result.exit_code == 2
    assert hint in result.output


def test_gpu_config_uses_gpu_instances_and_the_plan_platform():
    config = model_config("aframe", "tensorrt_plan", 128, 2, 3072, 2, "cuda")
    assert (config.instance_group[0].kind, config.instance_group[0].count) == (pb.ModelInstanceGroup.KIND_GPU, 2)
    assert list(config.input[0].dims) == [2, 3072] and config.max_batch_size == 128
    with pytest.raises(ValueError, match="platform"):
        model_config("aframe", "pytorch_libtorch", 128, 2, 3072, 1, "cuda")


def test_every_backend_and_the_precision_are_checked_and_recorded(model, tmp_path):
    """Issue 23: ONNX, the torch.export program at fp32 and at --precision, against fp32 torch on the same
    windows; each max |Δ| in the log and in export.json beside the windows (check.npy) and their fp32 logits."""
    result = run(model, tmp_path / "repo", "--precision", "bf16")
    assert result.exit_code == 0, result.output
    version = tmp_path / "repo" / "aframe" / "1"
    record = json.loads((version / "export.json").read_text())
    checks = {(c["backend"], c["precision"]): c for c in record["checks"]}
    assert set(checks) == {("onnxruntime", "fp32"), ("torch.export", "fp32"), ("torch.export", "bf16")}
    assert checks[("torch.export", "bf16")]["tolerance"] == contract.TOLERANCES["bf16"]
    assert 0 < checks[("torch.export", "bf16")]["max_abs_difference"] <= contract.TOLERANCES["bf16"]
    assert checks[("onnxruntime", "fp32")]["tolerance"] == 1e-4
    assert "torch.export bf16: max |Δ| from fp32 torch" in result.output
    windows = np.load(version / "check.npy")
    assert windows.shape == (BATCH, len(IFOS), SAMPLES) and len(record["logits"]) == BATCH
    with torch.no_grad():
        expected = torch.jit.load(str(model))(torch.from_numpy(windows))[:, 0].numpy()
    np.testing.assert_allclose(record["logits"], expected, rtol=0, atol=1e-6)
    program = torch.export.load(str(version / "model.pt2"))
    np.testing.assert_allclose(at_precision(program, "fp32", "cpu")(torch.from_numpy(windows[:3]))[:, 0].numpy(),
                               expected[:3], rtol=0, atol=1e-5)


def test_a_precision_beyond_its_tolerance_exits_2(model, tmp_path, monkeypatch):
    monkeypatch.setitem(contract.TOLERANCES, "fp16", 1e-12)
    result = run(model, tmp_path / "repo", "--precision", "fp16")
    assert result.exit_code == 2
    assert "torch.export fp16 differs from fp32 torch by up to" in result.output
    assert "more than the fp16 tolerance 1e-12" in result.output
    assert not (tmp_path / "repo").exists()
