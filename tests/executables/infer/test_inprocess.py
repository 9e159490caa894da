"""aframe-infer's in-process torch and AOTInductor backends (issue 23): precision, the check against export's
fp32 logits, the package cache beside the repository, and the same events as onnxruntime.

The package cache is tested with a fake compiler and loader (a real compile takes about a minute of this machine's
2 cores); nodes building at once share ``executables.infer.cache.cached_file`` with the TensorRT plans, whose
test_plans shows one build. One real AOTInductor compile runs on the session's micro run (``small_run``), whose
events it must reproduce.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from executables.formats.events import read_node_events
from executables.infer import inprocess
from executables.infer.cache import cache_directory
from executables.infer.infer import main
from executables.infer.inprocess import AotiBackend, PackageKey, StaticRunner
from executables.repository import contract
from executables.repository.contract import ModelShape
from executables.repository.program import at_precision, load_program
from tests.executables.infer.infer_inputs import MODEL, bundle_arguments, make_bundle

pytestmark = pytest.mark.usefixtures("restore_logging")

SHAPE = ModelShape(2, 256)


def run(args: list[str]):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("inprocess"))


def infer_events(bundle, output: Path, server: str, precision: str = "fp32", repository: Path | None = None):
    args = bundle_arguments(bundle, output, server=server, extra=["--precision", precision])
    if repository is not None:
        args[args.index("--repository") + 1] = str(repository)
    result = run(args)
    assert result.exit_code == 0, result.output
    return read_node_events(output), result.output


def assert_same_events(found, expected, atol: float) -> None:
    """The injections found within one output (0.25 s: round-off may move a flat peak to its neighbour) with
    statistics within ``atol``; the background's loudest and median within ``atol`` (its count within one)."""
    np.testing.assert_allclose(found.foreground.detection_time, expected.foreground.detection_time, rtol=0,
                               atol=0.25 + 1e-6)
    np.testing.assert_allclose(found.foreground.detection_statistic, expected.foreground.detection_statistic,
                               rtol=0, atol=atol)
    ours, theirs = found.background.detection_statistic, expected.background.detection_statistic
    assert abs(len(ours) - len(theirs)) <= 1
    np.testing.assert_allclose(np.quantile(ours, [0.5, 1.0]), np.quantile(theirs, [0.5, 1.0]), rtol=0, atol=atol)


def test_torch_in_bf16_and_fp16_finds_the_events_of_fp32_onnxruntime(bundle, tmp_path):
    reference, _ = infer_events(bundle, tmp_path / "onnx.hdf5", "onnxruntime")
    for precision in ("bf16", "fp16"):
        found, log = infer_events(bundle, tmp_path / f"{precision}.hdf5", "torch", precision)
        assert f"torch {precision} on cpu: max |Δ| from fp32 torch on the check windows" in log
        assert_same_events(found, reference, atol=contract.TOLERANCES[precision])


def test_onnxruntime_and_triton_refuse_a_precision_they_cannot_run(bundle, tmp_path):
    for server, precision in (("onnxruntime", "fp16"), ("triton", "bf16")):
        result = run(bundle_arguments(bundle, tmp_path / "out.hdf5", server=server, extra=["--precision", precision]))
        assert result.exit_code == 2
        assert f"--precision {precision}: --server {server} runs the network at" in result.output


def test_a_backend_beyond_its_precision_tolerance_exits_2(bundle, tmp_path, monkeypatch):
    monkeypatch.setitem(contract.TOLERANCES, "bf16", 1e-12)
    result = run(bundle_arguments(bundle, tmp_path / "out.hdf5", server="torch", extra=["--precision", "bf16"]))
    assert result.exit_code == 2
    assert "torch at bf16 differs from fp32 torch by up to" in result.output
    assert not (tmp_path / "out.hdf5").exists()


def test_the_static_runner_pads_a_short_batch_and_copies_its_logits():
    calls = []

    def model(windows):
        calls.append(windows.clone())
        return windows.sum(dim=(1, 2)).unsqueeze(1)

    runner = StaticRunner(model, (4, 2, 3), torch.device("cpu"), graphs=False)
    first = runner(torch.ones(4, 2, 3))
    short = runner(torch.full((2, 2, 3), 2.0))
    assert first.tolist() == [[6.0]] * 4 and short.tolist() == [[12.0]] * 2  # the first is not overwritten
    assert calls[-1][2:].abs().sum() == 0  # padding rows are zeros, not the previous batch
    with pytest.raises(ValueError, match="more than the batch of 4"):
        runner(torch.ones(5, 2, 3))


class FakeCompiler:
    """``compile_package`` and the package loader without a C++ compiler: the package runs the program."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def compile(self, program, precision, device, path) -> Path:
        self.calls.append(precision)
        Path(path).write_bytes(f"package {precision}".encode())
        return Path(path)

    def load(self, path, device, precision):
        if not Path(path).read_bytes().startswith(b"package"):
            raise RuntimeError("not an AOTInductor package")
        program = load_program(Path(path).parent.parent.parent / "model_repo" / MODEL / "1" / "model.pt2")
        return at_precision(program, precision, device)


@pytest.fixture
def fake(monkeypatch):
    compiler = FakeCompiler()
    monkeypatch.setattr(inprocess, "compile_package", compiler.compile)
    monkeypatch.setattr(inprocess, "_load_package", compiler.load)
    return compiler


@pytest.fixture
def repository(bundle, tmp_path):
    return Path(shutil.copytree(bundle["repository"], tmp_path / "results" / "model_repo"))


def test_the_package_is_compiled_once_beside_the_repository_and_reused(repository, fake):
    AotiBackend(repository, MODEL, SHAPE, "cpu", "fp32")
    AotiBackend(repository, MODEL, SHAPE, "cpu", "fp32")
    AotiBackend(repository, MODEL, SHAPE, "cpu", "bf16")
    assert fake.calls == ["fp32", "bf16"]
    packages = sorted(path.name for path in cache_directory(repository, MODEL).glob("*.pt2"))
    version = torch.__version__.replace("+", "-")
    assert len(packages) == 2 and all(f"-torch{version}-" in name for name in packages)
    assert not any(path.name.endswith(".pt2") for path in repository.rglob("*") if path.name != "model.pt2")


def test_the_key_names_device_torch_precision_and_program_bytes():
    key = PackageKey("NVIDIA H100 80GB HBM3", "2.11.0+cu128", "bf16", "ab" * 32)
    assert key.filename == f"NVIDIA-H100-80GB-HBM3-torch2.11.0-cu128-bf16-{'ab' * 8}.pt2"


def test_a_cached_package_that_does_not_load_is_rebuilt_in_its_place(repository, fake):
    AotiBackend(repository, MODEL, SHAPE, "cpu", "fp32")
    (package,) = cache_directory(repository, MODEL).glob("*.pt2")
    package.write_bytes(b"from another torch")
    AotiBackend(repository, MODEL, SHAPE, "cpu", "fp32")
    assert fake.calls == ["fp32", "fp32"] and package.read_bytes() == b"package fp32"


@pytest.mark.slow
def test_aotinductor_on_the_micro_run_finds_the_events_of_onnxruntime(small_run, tmp_path):
    """Issue 23's done-when: the micro run's network compiled by AOTInductor for this CPU (once, 20-90 s here)
    finds the same events as onnxruntime on the run's timeslid branch."""
    (node,) = [node for node in small_run.build.workflow.nodes
               if node.stage == "infer" and any(arg.startswith("1:") for arg in node.arguments)]
    arguments = list(node.arguments)
    repository = Path(arguments[arguments.index("--repository") + 1])
    arguments[arguments.index("--repository") + 1] = str(shutil.copytree(repository, tmp_path / "model_repo"))
    events = {}
    for server in ("onnxruntime", "aotinductor"):
        args = [*arguments, "--server", server, "--output", tmp_path / f"{server}.hdf5"]  # the last one given wins
        started = time.monotonic()
        result = run(args)
        assert result.exit_code == 0, result.output
        print(f"{server}: {time.monotonic() - started:.1f} s")  # noqa: T201  (AOTInductor's compile, for the notes)
        events[server] = read_node_events(tmp_path / f"{server}.hdf5")
    assert len(list(cache_directory(tmp_path / "model_repo", MODEL).glob("*-fp32-*.pt2"))) == 1
    reference = events["onnxruntime"]
    assert len(reference.background) > 0 and len(reference.foreground) > 0
    for name in ("background", "zero_lag", "foreground"):
        ours, theirs = getattr(events["aotinductor"], name), getattr(reference, name)
        np.testing.assert_array_equal(ours.detection_time, theirs.detection_time, err_msg=name)
        np.testing.assert_allclose(ours.detection_statistic, theirs.detection_statistic, rtol=1e-5, atol=1e-5,
                                   err_msg=name)
