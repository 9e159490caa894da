"""``aframe-export``: the trained TorchScript network as a Triton model repository (DESIGN §6, §12; issue 10).

Writes ``<repository>/<model-name>/config.pbtxt`` and ``1/model.onnx`` (dynamic batch axis), ``1/model.pt2`` (the
``torch.export`` program of ``aframe-infer --server torch | aotinductor``), ``1/model.plan`` when a TensorRT plan is
built, and ``1/model.pt`` (the TorchScript itself). ONNX and the program are checked against the fp32 torch logits
on random whitened windows (``executables.export.checks``: max |Δ| ≤ ``--tolerance`` at fp32, the precision's own
tolerance at ``--precision``), the figures logged and kept in ``1/export.json``. The network takes whitened windows
(batch, ifos, kernel samples) and returns (batch, 1) logits; whitening stays in the infer node. The repository is
built in a staging directory and swapped in whole, so a rerun replaces it with the same bytes.
"""

from __future__ import annotations

import logging
import math
import shutil
import warnings
from pathlib import Path

import click
import torch

from aframe_dag.inference import PRECISIONS
from executables.common import storage, trained
from executables.common.atomic import atomic_directory
from executables.common.cli import device_option, given_ifos, node_options, require_device
from executables.common.errors import InputError
from executables.common.shared import data_option
from executables.export.checks import CHECK_ROWS, judge, run_checks, write_checks
from executables.repository.contract import (
    INPUT,
    ONNX,
    OUTPUT,
    PLAN,
    PLATFORMS,
    PROGRAM,
    TORCHSCRIPT,
    VERSION,
    config_text,
    model_config,
)
from executables.repository.program import check_windows, export_program
from executables.repository.tensorrt import build_plan, plan_wanted

log = logging.getLogger("aframe-export")

#: ONNX opset of the export: run by onnxruntime 1.32 and parsed by TensorRT 8.6 and later.
OPSET = 17

def load_torchscript(path: Path) -> tuple[torch.jit.ScriptModule, dict | None]:
    """The network in ``model.pt`` on the CPU in eval mode and what it was trained for (None: not recorded);
    a missing or corrupt file is an ``InputError``."""
    if not path.is_file():
        raise InputError(path, None, "no such file (the TorchScript model aframe-train writes)")
    extra = {trained.EXTRA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        record = trained.read_record(extra[trained.EXTRA_FILE])
    except (RuntimeError, ValueError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, None, f"not a TorchScript model ({message})") from None
    return module.eval(), record


def check_trained_for(path: Path, record: dict | None, **given) -> None:
    """The model must have been trained for the data settings it is exported with (when training recorded them)."""
    if record is None:
        log.warning("%s records no training data settings (trained outside aframe-dag?): cannot check that it was "
                    "trained for %s", path, ", ".join(f"{key} {value}" for key, value in given.items()))
        return
    found = trained.differences(record, given)
    if found:
        raise InputError(path, None, "was trained for other data settings (" + "; ".join(found) + "): retrain, "
                                     "or export it with the settings it was trained for")


def check_shape(path: Path, module: torch.jit.ScriptModule, num_ifos: int, kernel_samples: int) -> None:
    """The network must take (batch, ifos, kernel samples) and give (batch, 1); anything else names the model."""
    example = torch.zeros(2, num_ifos, kernel_samples)
    try:
        with torch.no_grad():
            output = module(example)
    except RuntimeError as exc:
        first = next((line for line in str(exc).splitlines() if "Error" in line), str(exc).splitlines()[-1])
        raise InputError(path, None, f"does not take whitened input of shape (batch, {num_ifos} ifos, "
                                     f"{kernel_samples} samples): {first.strip()}") from None
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, 1):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise InputError(path, None, f"returns {shape} for input (2, {num_ifos}, {kernel_samples}); "
                                     "expected one logit per window, (2, 1)")


def export_onnx(module: torch.jit.ScriptModule, num_ifos: int, kernel_samples: int, path: Path) -> Path:
    """ONNX of the network with a dynamic batch axis, input ``whitened`` and output ``discriminator``."""
    example = torch.zeros(1, num_ifos, kernel_samples)
    with warnings.catch_warnings():  # the TorchScript exporter is the one that takes a ScriptModule: no notice
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="no signature found", category=UserWarning)
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    return path


def kernel_samples_of(kernel_length: float, sample_rate: float) -> int:
    samples = kernel_length * sample_rate
    if not math.isclose(samples, round(samples), rel_tol=0, abs_tol=1e-6) or round(samples) < 1:
        raise click.BadParameter(f"kernel length x sample rate = {samples:g} is not a whole number of samples",
                                 param_hint="--kernel-length")
    return round(samples)


def export(model: Path, repository: Path, model_name: str, batch_size: int, ifos: list[str], sample_rate: float,
           kernel_length: float, tensorrt: str, tolerance: float, device: str, instances: int,
           precision: str) -> list[Path]:
    """Build the model repository in a staging directory and swap it in; return ``[repository]``."""
    require_device(device)
    kernel_samples = kernel_samples_of(kernel_length, sample_rate)
    module, record = load_torchscript(model)
    check_trained_for(model, record, ifos=list(ifos), sample_rate=sample_rate, kernel_length=kernel_length)
    check_shape(model, module, len(ifos), kernel_samples)
    with_plan = plan_wanted(tensorrt, device)
    with atomic_directory(repository) as staging:
        version = staging / model_name / VERSION
        version.mkdir(parents=True)
        onnx_path = export_onnx(module, len(ifos), kernel_samples, version / ONNX)
        program = export_program(module, len(ifos), kernel_samples, batch_size)
        torch.export.save(program, version / PROGRAM)
        windows = check_windows(min(batch_size, CHECK_ROWS), len(ifos), kernel_samples)
        expected, checks = run_checks(module, program, onnx_path, windows, precision, device, tolerance)
        judge(model, checks)
        write_checks(version, windows, expected, checks)
        if with_plan:
            build_plan(onnx_path, version / PLAN, batch_size, len(ifos), kernel_samples, precision == "fp16")
        shutil.copyfile(model, version / TORCHSCRIPT)
        platform = PLATFORMS["plan" if with_plan else "onnx"]
        config = model_config(model_name, platform, batch_size, len(ifos), kernel_samples, instances, device)
        (staging / model_name / "config.pbtxt").write_text(config_text(config), encoding="utf-8")
    log.info("model repository written: %s (%s, input %s (%d, %d), max batch %d)", repository, platform, INPUT,
             len(ifos), kernel_samples, batch_size)
    return [repository]


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)


@click.command(name="aframe-export")
@node_options
@click.option("--model", type=storage.PathOrUrl(), required=True,
              help="TorchScript network (model.pt from aframe-train or aframe-tune-select): a path or s3:// URL.")
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Triton model repository to write (replaced whole).")
@click.option("--model-name", default="aframe", show_default=True, help="Model name in the repository.")
@click.option("--batch-size", type=click.IntRange(min=1), required=True, help="Triton max_batch_size.")
@data_option("ifos", required=True, help="Comma-separated ifos, e.g. H1,L1 (the input's channels).")
@data_option("sample_rate", required=True)
@data_option("kernel_length", required=True)
@data_option("inference_sampling_rate", required=True,
             help="Hz; windows per second at inference (must divide the sample rate).")
@click.option("--tensorrt", type=click.Choice(("auto", "true", "false")), default="auto", show_default=True,
              help="Also build a TensorRT plan: auto = when TensorRT and a CUDA device are present.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="Largest |ONNX - torch| output difference accepted.")
@device_option("Where Triton runs the model (instance kind); cuda must exist.")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model instances Triton runs at once.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Precision inference runs at: the program is checked at it too, and a TensorRT plan built in it.")
def main(model: Path | str, repository: Path, model_name: str, batch_size: int, ifos: str, sample_rate: float,
         kernel_length: float, inference_sampling_rate: float, tensorrt: str, tolerance: float, device: str,
         instances: int, precision: str) -> list[Path]:
    """Export the network as a Triton model repository (ONNX, and a TensorRT plan where possible)."""
    for name, value in (("--sample-rate", sample_rate), ("--kernel-length", kernel_length),
                        ("--inference-sampling-rate", inference_sampling_rate), ("--tolerance", tolerance)):
        _positive(name, value)
    stride = sample_rate / inference_sampling_rate
    if not math.isclose(stride, round(stride), rel_tol=0, abs_tol=1e-9):
        raise click.BadParameter(f"{inference_sampling_rate:g} Hz does not divide the sample rate {sample_rate:g} Hz",
                                 param_hint="--inference-sampling-rate")
    if "/" in model_name or model_name in ("", ".", ".."):
        raise click.BadParameter(f"not a directory name: {model_name!r}", param_hint="--model-name")
    with storage.scratch() as scratch:  # an s3:// model (a remote train run dir) is read from a verified copy
        return export(storage.local_copy(model, scratch), repository, model_name, batch_size, given_ifos(ifos),
                      sample_rate, kernel_length, tensorrt, tolerance, device, instances, precision)
