"""The network in this process on the node's device: the ``torch.export`` program (``--server torch``) or its
AOTInductor package (``--server aotinductor``), at ``--precision``.

Both run on one static input buffer of the repository's batch size on the device (``StaticRunner``): a window
batch is copied in (from pinned memory when it comes from the host; whitened on the device it is already there),
a short last batch is padded with zeros, and the logits stay on the device until the branch ends. With CUDA the
torch backend captures the program once as a CUDA graph and replays it; on the CPU the same runner calls it
eagerly. The AOTInductor package is compiled on the infer node for its device, torch version and precision, and
cached beside the repository (``executables.infer.cache``). Before any data, each backend is checked on the
repository's check windows against the fp32 torch logits export recorded (the precision's tolerance; exit 2 when
exceeded).
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from executables.common.errors import InputError, PermanentError
from executables.infer.cache import cache_directory, cached_file, file_sha256, identity, safe
from executables.repository.contract import (
    CHECK_WINDOWS,
    CHECKS,
    OUTPUT,
    PROGRAM,
    TOLERANCES,
    ModelShape,
    check_config,
    model_file,
)
from executables.repository.program import (
    DTYPES,
    at_precision,
    compile_package,
    exact_float32,
    input_shape,
    load_program,
)

log = logging.getLogger(__name__)

#: Calls before a CUDA graph is captured (cuDNN picks its algorithms on the first ones).
WARMUP_CALLS = 3


class StaticRunner:
    """``run`` on one (batch, ifos, kernel) float32 buffer on ``device``; with ``graphs`` (CUDA only) captured once
    as a CUDA graph and replayed."""

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], device: torch.device,
                 graphs: bool) -> None:
        self.input = torch.zeros(shape, device=device)
        self.step = lambda: run(self.input)
        if graphs:
            self.step = self._captured(run, device)

    def _captured(self, run: Callable[[torch.Tensor], torch.Tensor],
                  device: torch.device) -> Callable[[], torch.Tensor]:
        """``run`` on the buffer captured as a CUDA graph (after warm-up calls on a side stream): replaying it
        rewrites one output tensor."""
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.no_grad():
            with torch.cuda.stream(side):
                for _ in range(WARMUP_CALLS):
                    run(self.input)
            torch.cuda.current_stream(device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                output = run(self.input)
        return lambda: (graph.replay(), output)[1]

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits (rows, 1) of up to a batch of windows, a copy on the device (the next call overwrites the buffer)."""
        rows = len(windows)
        if rows > len(self.input):
            raise ValueError(f"{rows} windows, more than the batch of {len(self.input)}")
        if windows.device.type == "cpu" and self.input.device.type == "cuda":
            windows = windows.pin_memory()
        self.input[:rows].copy_(windows, non_blocking=True)
        self.input[rows:].zero_()
        return self.step()[:rows].clone()


def check_against_export(repository: Path, model_name: str, runner: StaticRunner, name: str, precision: str) -> float:
    """Max |Δ| of ``runner`` from the fp32 torch logits on the repository's check windows; over the precision's
    tolerance it is a ``PermanentError`` (exit 2)."""
    windows = np.load(model_file(repository, model_name, CHECK_WINDOWS), allow_pickle=False)
    record = json.loads(model_file(repository, model_name, CHECKS).read_text(encoding="utf-8"))
    expected = np.asarray(record["logits"], dtype=np.float64)
    windows = torch.from_numpy(windows)
    with torch.inference_mode():  # a batch of one too: the padding of a short batch must not change its logits
        found = torch.cat([runner(windows[:1]), runner(windows)]).cpu().numpy()[:, 0]
    reference = np.concatenate([expected[:1], expected])
    worst = float(np.max(np.abs(found - reference))) if np.all(np.isfinite(found)) else float("inf")
    tolerance = TOLERANCES[precision]
    log.info("%s %s on %s: max |Δ| from fp32 torch on the check windows = %.3g (tolerance %g)", name, precision,
             runner.input.device, worst, tolerance)
    if not worst <= tolerance:
        raise PermanentError(f"{repository}/{model_name}: {name} at {precision} differs from fp32 torch by up to "
                             f"{worst:.3g} on the check windows, more than {tolerance:g}")
    return worst


def _program(repository: Path, model_name: str, shape: ModelShape) -> tuple[Path, torch.export.ExportedProgram]:
    """The repository's program, checked to take (batch, ifos, kernel) windows."""
    check_config(repository, model_name, shape)
    path = model_file(repository, model_name, PROGRAM)
    program = load_program(path)
    found = input_shape(program)
    if list(found[1:]) != shape.dims:
        raise InputError(path, "whitened", f"takes windows {list(found[1:])}, this run's [ifos, kernel samples] "
                                           f"are {shape.dims}")
    return path, program


class InProcessBackend:
    """Logits of a ``StaticRunner``, kept on the device as (rows,) float32 tensors."""

    runner: StaticRunner
    path: Path

    def run(self, batches: Iterable[np.ndarray | torch.Tensor]) -> Iterator[torch.Tensor]:
        with torch.inference_mode():
            for batch in batches:
                output = self.runner(torch.as_tensor(batch))
                if tuple(output.shape) != (len(batch), 1):
                    raise InputError(self.path, OUTPUT, f"returned shape {tuple(output.shape)} for a batch of "
                                                        f"{len(batch)}, expected ({len(batch)}, 1)")
                yield output[:, 0].float()

    def close(self) -> None:
        pass


class TorchBackend(InProcessBackend):
    """``model.pt2`` run by torch at ``precision``; on CUDA replayed as a CUDA graph (``graphs``)."""

    def __init__(self, repository: Path, model_name: str, shape: ModelShape, device: str, precision: str,
                 graphs: bool | None = None) -> None:
        self.path, program = _program(repository, model_name, shape)
        device_ = torch.device(device)
        graphs = device_.type == "cuda" if graphs is None else graphs
        run = at_precision(program, precision, device_)
        self.runner = StaticRunner(run, input_shape(program), device_, graphs)
        check_against_export(repository, model_name, self.runner, "torch" + (" + CUDA graphs" if graphs else ""),
                             precision)


@dataclass(frozen=True)
class PackageKey:
    """What an AOTInductor package depends on: the device (GPU model, or CPU vector ISA), torch's version, the
    precision and the program's bytes."""

    device: str
    torch: str
    precision: str
    program_sha256: str

    @property
    def filename(self) -> str:
        return f"{safe(self.device, 'device')}-torch{safe(self.torch, 'torch')}-{self.precision}-" \
               f"{self.program_sha256[:16]}.pt2"


def device_kind(device: torch.device) -> str:
    """The hardware a compiled package is tied to: the GPU's name, or the CPU architecture and vector ISA."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    return f"cpu-{platform.machine()}-{pick_vec_isa() or 'scalar'}"


def _load_package(path: Path, device: torch.device, precision: str) -> Callable[[torch.Tensor], torch.Tensor]:
    package = torch._inductor.aoti_load_package(str(path))
    dtype = DTYPES[precision]
    if precision == "fp32":
        exact_float32(device)

    def run(windows: torch.Tensor) -> torch.Tensor:
        return package(windows.to(device=device, dtype=dtype)).float()

    return run


class AotiBackend(InProcessBackend):
    """The AOTInductor package of ``model.pt2`` for this device, torch and precision, compiled here once (cached)."""

    def __init__(self, repository: Path, model_name: str, shape: ModelShape, device: str, precision: str) -> None:
        self.path, program = _program(repository, model_name, shape)
        device_ = torch.device(device)
        key = PackageKey(device_kind(device_), torch.__version__, precision, file_sha256(self.path))
        cache = cache_directory(repository, model_name)

        def build(path: Path) -> None:
            compile_package(program, precision, device, path)

        package = cached_file(cache, key.filename, build, "AOTInductor package")
        try:
            run = _load_package(package, device_, precision)
        except Exception as exc:  # a cache entry this torch cannot load: rebuilt once, in its place
            log.warning("the cached AOTInductor package %s does not load (%s): rebuilding it", package, exc)
            package = cached_file(cache, key.filename, build, "AOTInductor package", stale=identity(package))
            run = _load_package(package, device_, precision)
        self.runner = StaticRunner(run, input_shape(program), device_, graphs=False)
        check_against_export(repository, model_name, self.runner, "aotinductor", precision)
