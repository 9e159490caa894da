"""The network as a ``torch.export`` program: written by ``aframe-export``, run and compiled by ``aframe-infer``.

One definition of how the program is made (non-strict export through the TorchScript ``model.pt``), how it runs
at a precision (weights and inputs cast, logits back in fp32), how its AOTInductor package is compiled, and the
windows every backend is checked on against the fp32 torch logits. The program takes whole batches of the
repository's max batch size: TorchScript's shape arithmetic (``aten::size``) specializes a dynamic batch axis, and
static shapes are what CUDA graphs and AOTInductor want anyway; a short last batch is padded with zeros
(``padded``) and its padding's logits dropped.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from executables.common.errors import InputError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: Seed of the random whitened windows the backends are checked on (whitened strain is unit-variance noise).
CHECK_SEED = 0


class _Calls(torch.nn.Module):
    """A plain module around a TorchScript one: non-strict ``torch.export`` traces through it at the dispatcher.
    A loaded ScriptModule's weights are plain tensors; export wants them ``Parameter``s (frozen here)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        for name, tensor in list(inner.named_parameters()):
            *path, leaf = name.split(".")
            owner = inner
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, leaf, torch.nn.Parameter(tensor.detach(), requires_grad=False))
        self.inner = inner

    def forward(self, whitened: torch.Tensor) -> torch.Tensor:
        return self.inner(whitened)


def export_program(module: torch.nn.Module, num_ifos: int, kernel_samples: int,
                   max_batch_size: int) -> torch.export.ExportedProgram:
    """``module`` as a program taking (``max_batch_size``, ifos, kernel) float32 whitened windows."""
    example = torch.zeros(max_batch_size, num_ifos, kernel_samples)
    return torch.export.export(_Calls(module).eval(), (example,), strict=False)


def input_shape(program: torch.export.ExportedProgram) -> tuple[int, ...]:
    """(batch, ifos, kernel) of the windows the program takes."""
    (name,) = program.graph_signature.user_inputs
    (node,) = [node for node in program.graph.nodes if node.op == "placeholder" and node.name == name]
    return tuple(int(size) for size in node.meta["val"].shape)


def padded(run: Callable[[torch.Tensor], torch.Tensor], batch_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``run`` on batches of at most ``batch_size`` windows: shorter ones padded with zeros, their logits dropped."""

    def call(windows: torch.Tensor) -> torch.Tensor:
        rows = len(windows)
        if rows == batch_size:
            return run(windows)
        if rows > batch_size:
            raise ValueError(f"{rows} windows, more than the program's batch of {batch_size}")
        filler = windows.new_zeros((batch_size - rows, *windows.shape[1:]))
        return run(torch.cat([windows, filler]))[:rows]

    return call


def load_program(path: Path) -> torch.export.ExportedProgram:
    """The program saved at ``path``; an unreadable one is an ``InputError`` naming it."""
    try:
        return torch.export.load(str(path))
    except Exception as exc:
        raise InputError(path, None, f"not a torch.export program ({type(exc).__name__}: {exc})") from None


def _copy(program: torch.export.ExportedProgram, device: str | torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """The program as a module of its own on ``device`` in ``dtype``: ``module()`` shares the program's weights
    (and the exported module's), which ``.to`` would convert in place."""
    return copy.deepcopy(program.module()).to(device=device, dtype=dtype)


def exact_float32(device: str | torch.device) -> None:
    """fp32 is IEEE float32 on a GPU too: cuDNN runs fp32 convolutions in TF32 by default, whose logits differ from
    the CPU's by about 1e-3, beyond fp32's tolerance (fp16 and bf16 are the fast precisions)."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def at_precision(program: torch.export.ExportedProgram, precision: str, device: str | torch.device) -> Callable:
    """The program on ``device`` at ``precision``: up to a batch of float32 windows in, float32 logits out."""
    dtype = DTYPES[precision]
    module = _copy(program, device, dtype)
    if precision == "fp32":
        exact_float32(device)

    def run(windows: torch.Tensor) -> torch.Tensor:
        return module(windows.to(device=device, dtype=dtype)).float()

    return padded(run, input_shape(program)[0])


def compile_package(program: torch.export.ExportedProgram, precision: str, device: str, path: Path) -> Path:
    """An AOTInductor package of ``program`` at ``precision`` for ``device`` (a C++ compiler on CPU), at ``path``."""
    dtype = DTYPES[precision]
    module = _copy(program, device, dtype)
    example = torch.zeros(input_shape(program), device=device, dtype=dtype)
    cast = torch.export.export(module, (example,), strict=False)
    package = io.BytesIO()  # AOTInductor wants a name ending in .pt2 or a buffer; ``path`` may be a temporary name
    torch._inductor.aoti_compile_and_package(cast, package_path=package)
    Path(path).write_bytes(package.getvalue())
    return Path(path)


def check_windows(rows: int, num_ifos: int, kernel_samples: int) -> torch.Tensor:
    """``rows`` seeded random whitened windows (float32, CPU): the same on every machine."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    return torch.randn(rows, num_ifos, kernel_samples, generator=generator)


def max_difference(found: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray) -> float:
    """Largest |found - expected| in float64; a shape mismatch or a NaN counts as infinitely different."""
    found, expected = np.asarray(found, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if found.shape != expected.shape or not np.all(np.isfinite(found)):
        return float("inf")
    return float(np.max(np.abs(found - expected))) if found.size else 0.0
