"""[infer] server and precision (issue 23): the old tensorrt_fp16 alias, combinations no backend runs, bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aframe_dag.builder.build import build
from aframe_dag.errors import ConfigError
from aframe_dag.inference import AUTO, SERVER_PRECISIONS, server_for

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def node_options(micro_ini, stage: str, *overrides: str) -> list[dict[str, str]]:
    nodes = build(micro_ini, overrides, dry_run=True).workflow.nodes
    return [dict(zip(node.arguments[::2], node.arguments[1::2], strict=False)) for node in nodes if node.stage == stage]


def test_auto_is_one_table_per_device():
    assert {device: server_for("auto", device) for device in ("cpu", "cuda")} == AUTO
    assert server_for("aotinductor", "cpu") == "aotinductor"
    assert all("fp32" in precisions for precisions in SERVER_PRECISIONS.values())


@pytest.mark.parametrize(("overrides", "expected"), [
    ((), "fp32"),
    (("infer.server=torch", "infer.precision=bf16"), "bf16"),
    (("infer.server=aotinductor", "infer.tensorrt_fp16=true"), "fp16"),  # the old key is an alias of fp16
    (("infer.server=triton", "infer.tensorrt_fp16=true", "infer.precision=fp16"), "fp16"),
])
def test_infer_and_export_nodes_get_the_precision(micro_ini, overrides, expected):
    infers = node_options(micro_ini, "infer", *overrides)
    assert infers and {options["--precision"] for options in infers} == {expected}
    (export,) = node_options(micro_ini, "export", *overrides)
    assert export["--precision"] == expected


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (("infer.precision=bf16",), "precision", "bf16 cannot run on server onnxruntime"),
    (("infer.server=triton", "infer.precision=bf16"), "precision", "bf16 cannot run on server triton"),
    (("infer.server=torch", "infer.precision=bf16", "infer.tensorrt_fp16=true"), "tensorrt_fp16",
     "tensorrt_fp16 = true means precision = fp16"),
])
def test_a_precision_the_server_cannot_run_names_the_key(micro_ini, overrides, key, message):
    with pytest.raises(ConfigError, match=rf"\[infer\] {key}: {message}"):
        build(micro_ini, overrides, dry_run=True)


@pytest.mark.parametrize(("setting", "key"), [("infer.precision=fp8", "precision"),
                                            ("infer.server=tensorrt", "server")])
def test_bad_values_exit_2_naming_the_key(micro_ini, setting, key):
    result = subprocess.run([AFRAME_DAG, "build", str(micro_ini), "--dry-run", "--set", setting],
                            capture_output=True, text=True)
    assert result.returncode == 2, result
    assert f"[infer] {key}" in result.stderr and "Traceback" not in result.stderr
