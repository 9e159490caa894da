"""Tests for executables/common/torchcompat.py, each in a fresh interpreter so no test sees another's imports."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

WITH_COMPAT = """
import sys
import executables.common.torchcompat
from executables.common.torchcompat import ensure_ml4gw_importable
import torch
stubbed = torch.version.cuda is None
extension = sys.modules.get("torchaudio._extension")
assert (extension is not None) == stubbed
ensure_ml4gw_importable()
import ml4gw
assert not stubbed or sys.modules["torchaudio._extension"] is extension
from ml4gw.transforms import IIRFilter, SpectralDensity, Whiten

x = torch.randn(1, 2, 8 * 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
psd = SpectralDensity(256, 2.0, average="median").double()(x)
assert psd.dtype == torch.float64 and psd.shape == (1, 2, 257), (psd.dtype, psd.shape)
white = Whiten(1.0, 256, highpass=16).double()(x, psd)
assert torch.isfinite(white).all() and 0.5 < float(white.std()) < 1.5, float(white.std())
filtered = IIRFilter(4, 16 / 128, btype="highpass")(x)
assert torch.isfinite(filtered).all()
print(torch.version.cuda)
"""

WITHOUT_COMPAT = """
import torch
print(torch.version.cuda, flush=True)
import ml4gw
"""


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_ml4gw_transforms_work_after_torchcompat():
    result = python(WITH_COMPAT)
    assert result.returncode == 0, result.stderr


def test_plain_ml4gw_import_hits_the_torchaudio_trap_on_cpu_torch():
    """Documents why torchcompat exists: without it, CPU torch cannot import ml4gw."""
    result = python(WITHOUT_COMPAT)
    cuda = result.stdout.strip()
    if cuda != "None":
        pytest.skip(f"torch is a CUDA {cuda} build: torchaudio's extension loads and there is no trap")
    assert result.returncode != 0
    assert "OSError" in result.stderr and "_torchaudio" in result.stderr
