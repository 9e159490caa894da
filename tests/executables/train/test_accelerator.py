"""How aframe-train computes: DDP over visible GPUs, ``precision: auto``, TF32, and a compiled bf16 run on the CPU."""

from __future__ import annotations

import pytest
import torch
import yaml
from click.testing import CliRunner

from executables.train.accelerator import lightning_devices, lightning_precision, use_tf32
from executables.train.train import main

from .conftest import TINY_CONFIG, cli_args


@pytest.mark.parametrize("device, visible, expected", [
    ("cpu", 0, (1, "auto")), ("cpu", 4, (1, "auto")), ("cuda", 1, (1, "auto")), ("cuda", 2, (2, "ddp")),
    ("cuda", 8, (8, "ddp")),
])
def test_ddp_over_every_visible_gpu_when_there_are_several(device, visible, expected):
    assert lightning_devices(device, visible) == expected


@pytest.mark.parametrize("precision, device, bf16, expected", [
    ("auto", "cuda", True, "bf16-mixed"), ("auto", "cuda", False, "32-true"), ("auto", "cpu", True, "32-true"),
    ("16-mixed", "cuda", True, "16-mixed"), (32, "cuda", True, 32), ("bf16-mixed", "cpu", False, "bf16-mixed"),
])
def test_auto_is_bf16_autocast_only_where_the_gpu_computes_bf16(precision, device, bf16, expected):
    assert lightning_precision(precision, device, bf16) == expected


def test_tf32_switches_matmuls_and_convolutions_together():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        use_tf32(True)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
        use_tf32(False)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_compiled_bf16_training_keeps_eager_fp32_weights_and_exports_them(tiny_inputs, tmp_path, monkeypatch):
    """bf16 autocast and torch.compile change how steps compute, not what is saved: fp32 weights under the eager
    module's keys in the checkpoint, and a TorchScript model.pt that is those weights. Dynamo captures the network
    here with the aot_eager backend: inductor's code generation takes half a minute per graph on this CPU (the
    AOTInductor tests and benchmarks/gpu_check.py exercise it)."""
    compiled = []
    eager_compile = torch.nn.Module.compile

    def compile_on_aot_eager(module, *args, **kwargs):
        compiled.append(type(module).__name__)
        eager_compile(module, *args, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch.nn.Module, "compile", compile_on_aot_eager)
    torch._dynamo.reset()
    config = {**TINY_CONFIG, "data": {**TINY_CONFIG["data"], "batches_per_epoch": 3},
              "trainer": {**TINY_CONFIG["trainer"], "max_epochs": 1, "precision": "bf16-mixed", "compile": True}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(main, cli_args({**tiny_inputs, "config": path}, run_dir), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert compiled == ["ResNet1D"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the network's steps ran compiled

    state = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    network = {key: value for key, value in state.items() if key.startswith("model.")}
    assert network and not any("_orig_mod" in key for key in state)
    assert all(value.dtype == torch.float32 for value in network.values() if value.is_floating_point())
    exported = dict(torch.jit.load(str(run_dir / "model.pt")).state_dict())
    assert exported.keys() == {key.removeprefix("model.") for key in network}
    for key, value in exported.items():
        torch.testing.assert_close(value, network[f"model.{key}"], rtol=0, atol=0)
