"""Every exported backend against the fp32 torch logits on the same windows, judged by a tolerance per precision.

The windows (``check.npy``) and the reference logits go into the repository, so the infer node checks what it
compiles there (AOTInductor packages) against the same numbers. ``export.json`` records each max |Δ|.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from executables.common.errors import PermanentError
from executables.repository.contract import CHECK_WINDOWS, CHECKS, INPUT, OUTPUT, TOLERANCES
from executables.repository.program import at_precision, max_difference

log = logging.getLogger(__name__)

#: Windows in the batch every backend is checked on (plus a batch of one, for the dynamic axis): the graph does
#: not depend on the batch size, so the check need not pay for a whole max-size batch on a CPU.
CHECK_ROWS = 16


@dataclass(frozen=True)
class Check:
    """One backend at one precision: its largest |Δ| from the fp32 torch logits and the tolerance it must meet."""

    backend: str
    precision: str
    max_abs_difference: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_difference <= self.tolerance


def tolerance_of(precision: str, fp32: float) -> float:
    """The largest |Δ| accepted at ``precision`` (``fp32``: export's --tolerance)."""
    return fp32 if precision == "fp32" else TOLERANCES[precision]


def onnx_logits(path: Path, windows: torch.Tensor) -> np.ndarray:
    """``model.onnx`` in onnxruntime (CPU) on ``windows``, batch by batch as given."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (found,) = session.run([OUTPUT], {INPUT: windows.numpy()})
    return found


def run_checks(module: torch.nn.Module, program: torch.export.ExportedProgram, onnx_path: Path, windows: torch.Tensor,
               precision: str, device: str, tolerance: float) -> tuple[np.ndarray, list[Check]]:
    """The fp32 torch logits on ``windows`` and the check of ONNX and of the program (fp32 and ``precision`` on
    ``device``), each on the whole batch and on a batch of one."""
    with torch.no_grad():
        expected = module(windows).numpy()
    runs = {("onnxruntime", "fp32"): lambda x: onnx_logits(onnx_path, x)}
    for wanted in dict.fromkeys(("fp32", precision)):
        program_run = at_precision(program, wanted, device)
        runs[("torch.export", wanted)] = lambda x, run=program_run: run(x).cpu().numpy()
    checks = []
    for (backend, wanted), run in runs.items():
        with torch.no_grad():
            worst = max(max_difference(run(windows), expected), max_difference(run(windows[:1]), expected[:1]))
        checks.append(Check(backend, wanted, worst, tolerance_of(wanted, tolerance)))
    return expected, checks


def write_checks(version: Path, windows: torch.Tensor, expected: np.ndarray, checks: list[Check]) -> None:
    """``check.npy`` (the windows) and ``export.json`` (the reference logits and every check) in ``version``."""
    np.save(version / CHECK_WINDOWS, windows.numpy(), allow_pickle=False)
    record = {"reference": "torch fp32 (model.pt) on check.npy", "logits": expected[:, 0].tolist(),
              "checks": [asdict(check) for check in checks]}
    (version / CHECKS).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def judge(model: Path, checks: list[Check]) -> None:
    """Log every check; a backend beyond its tolerance is a ``PermanentError`` naming it (exit 2)."""
    for check in checks:
        log.info("%s %s: max |Δ| from fp32 torch = %.3g (tolerance %g)", check.backend, check.precision,
                 check.max_abs_difference, check.tolerance)
    failed = [check for check in checks if not check.passed]
    if failed:
        raise PermanentError(f"{model}: " + "; ".join(
            f"{c.backend} {c.precision} differs from fp32 torch by up to {c.max_abs_difference:.3g}, more than "
            f"{'--tolerance ' if c.precision == 'fp32' else 'the ' + c.precision + ' tolerance '}{c.tolerance:g}"
            for c in failed))
