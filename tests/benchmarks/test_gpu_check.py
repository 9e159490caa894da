"""benchmarks/gpu_check.py --smoke (issue 23): the GPU check runs on this CPU at tiny sizes, so it cannot rot before
a GPU machine runs it, writes its JSON, prints its table and imports nothing a bare GPU machine lacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("training fp32", "training bf16", "torch eager", "torch + CUDA graphs", "onnxruntime", "tensorrt",
            "pipeline", "aotinductor", "training bf16 compiled")


def test_smoke_runs_every_section_and_reports(tmp_path):
    output = tmp_path / "gpu_check.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--output",
                             str(output), "--work", str(tmp_path / "work")], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert tuple(report["sections"]) == SECTIONS
    sections = report["sections"]
    for name in ("training fp32", "training bf16", "torch eager", "torch + CUDA graphs", "onnxruntime", "pipeline",
                 "training bf16 compiled"):
        assert sections[name]["status"] == "ok", (name, sections[name])
    assert sections["training bf16"]["samples_per_s"] > 0
    compiled = sections["training bf16 compiled"]
    assert compiled["samples_per_s"] > 0 and compiled["first_step_s"] > 0
    assert sections["torch eager"]["fp32"]["max_abs_difference"] < 1e-4
    assert 0 < sections["torch eager"]["bf16"]["max_abs_difference"] < 0.25
    assert sections["tensorrt"]["status"].startswith("absent")
    assert 0 < sections["pipeline"]["ratio"]
    assert report["forbidden_modules_loaded"] == []
    for figure in ("training samples/s, fp32", "training samples/s, bf16, torch.compile",
                   "inference s/s, torch + CUDA graphs fp32", "pipeline s/s",
                   "peak GPU memory", "20,000", "4,600"):
        assert figure in result.stdout


def test_pack_copies_the_pure_python_packages_a_gpu_machine_lacks(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--pack", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    names = {path.name for path in tmp_path.iterdir()}
    for package in ("ml4gw", "jaxtyping", "wadler_lindig", "torchaudio"):
        assert package in names and any(name.startswith(f"{package}-") and name.endswith(".dist-info")
                                        for name in names), package
    assert not list(tmp_path.rglob("*.so"))  # the machine's own torch is another build
