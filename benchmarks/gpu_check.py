"""Every GPU figure of issue 23 in one run of at most 4 minutes: training and inference rates, precision, memory.

    python benchmarks/gpu_check.py --output gpu_check.json          # on a GPU machine (make gpu-check)
    python benchmarks/gpu_check.py --smoke --output smoke.json      # on a CPU, tiny sizes, seconds (the test)

It needs only torch (the machine's own CUDA build), numpy and ml4gw: it imports this repository's modules whose
imports stay within those (the network, whitening, the in-process runners and the torch.export program; the
smoke test checks it). Sections run in order, each under its own time limit (a SIGALRM cuts it off and it reports
"timed out"); the JSON is rewritten as each section ends, so a run cut off from outside still reports what it
measured. Inference rates are seconds of 2-ifo strain per second: windows per second / inference sampling rate.
Each backend's logits are compared with fp32 torch eager on the same windows (max |Δ|). Absent backends
(onnxruntime-gpu, TensorRT) are reported as absent.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import shutil
import signal
import sys
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Pure-Python packages ``--pack`` copies for a GPU machine (ml4gw and what it imports; torchaudio's compiled
#: extension left out: the project's stub stands in for it).
PACKED = ("ml4gw", "jaxtyping", "wadler_lindig", "torchaudio")


def _stand_in(name: str) -> types.ModuleType:
    """An empty module whose every attribute is a function that raises: ml4gw imports these names, never calls them
    here."""
    module = types.ModuleType(name, "gpu_check stand-in: absent on this machine")

    def missing(attribute: str):
        if attribute.startswith("__"):  # what tools ask of any module (__file__, __path__, ...): not there
            raise AttributeError(attribute)

        def absent(*args, **kwargs):
            raise ImportError(f"{name}.{attribute} is absent on this machine (gpu_check stand-in)")
        return absent

    module.__getattr__ = missing  # type: ignore[attr-defined]
    return module


def prepare_ml4gw() -> list[str]:
    """Make ``import ml4gw`` work with nothing but torch and the packed packages: torchaudio's extension, h5py and
    scipy.signal (which ml4gw imports for classes this script does not use) stand in where they cannot be loaded.
    Returns what stood in."""
    from executables.common import torchcompat

    stood_in = []
    try:
        import torchaudio  # noqa: F401
    except OSError:  # a torchaudio whose compiled extension was built for another torch
        for name in [name for name in sys.modules if name.split(".")[0] == "torchaudio"]:
            del sys.modules[name]
        torchcompat.ensure_ml4gw_importable(force=True)
        stood_in.append("torchaudio._extension")
    for name in ("h5py", "scipy", "scipy.signal"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _stand_in(name)
            stood_in.append(name)
    return stood_in


STOOD_IN = prepare_ml4gw()

from executables.infer.inprocess import StaticRunner  # noqa: E402
from executables.infer.outputs import integrate, whitened_windows  # noqa: E402
from executables.preprocessing import whitening  # noqa: E402
from executables.repository.program import (  # noqa: E402
    at_precision,
    check_windows,
    compile_package,
    export_program,
    max_difference,
)
from executables.train.model import build_resnet  # noqa: E402

#: Issue 23's targets, printed beside the figures.
TARGETS = {"inference": 20_000.0, "training fp32": 2_800.0, "training bf16": 4_600.0}
#: Modules this script must never import (the smoke test checks): the GPU machine does not have them (jinja2 is not
#: here: torch requires it, and torch.compile's code generation loads it).
FORBIDDEN = ("click", "gwpy", "lal", "lalsimulation", "htcondor", "htcondor2", "lightning", "boto3")


@dataclass(frozen=True)
class Sizes:
    """What is measured: the network, its input and batches, the data of the pipeline, and time per figure."""

    layers: tuple[int, ...]
    norm_groups: int
    sample_rate: float
    kernel_length: float
    inference_rate: float
    train_batch: int
    infer_batch: int
    psd_length: float
    fftlength: float
    pipeline_seconds: float
    seconds: float  # measuring time per figure
    warmup: int  # calls before timing
    precisions: tuple[str, ...]  # of the torch inference rows

    @property
    def kernel(self) -> int:
        return round(self.kernel_length * self.sample_rate)


# aframe's defaults: ResNet1D [3, 4, 6, 3] / GroupNorm 16 (aframe_dag/configs/train.yaml, batch 384), 2048 Hz,
# 1.5 s kernels, 4 Hz, infer batch 128, 64 s PSD
FULL = Sizes((3, 4, 6, 3), 16, 2048.0, 1.5, 4.0, 384, 128, 64.0, 2.0, 512.0, 3.0, 3, ("fp32", "bf16", "fp16"))
SMOKE = Sizes((1, 1), 8, 128.0, 0.5, 4.0, 4, 8, 8.0, 1.0, 16.0, 0.05, 1, ("fp32", "bf16"))
#: Seconds each section may take in a full run (--smoke: SMOKE_LIMIT each, most of it imports and set-up).
LIMITS = {"training fp32": 35, "training bf16": 30, "torch eager": 30, "torch + CUDA graphs": 30, "onnxruntime": 20,
          "tensorrt": 10, "pipeline": 25, "aotinductor": 75, "training bf16 compiled": 45}
SMOKE_LIMIT = 20


class SectionTimeout(Exception):
    """A section ran past its limit."""


def _alarm(signum, frame):  # noqa: ARG001
    raise SectionTimeout


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Callable[[], object], items: int, seconds: float, device: torch.device, warmup: int) -> float:
    """Items per second of ``step`` (``items`` each), timed for about ``seconds`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    calls, started = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - started < seconds:
        step()
        calls += 1
        if calls % 8 == 0:
            synchronize(device)
    synchronize(device)
    return calls * items / (time.perf_counter() - started)


def network(sizes: Sizes, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_resnet(2, sizes.layers, sizes.norm_groups).to(device)


def training(sizes: Sizes, device: torch.device, precision: str, backend: str | None = None) -> dict:
    """Samples/s of a bare training step (forward, BCE, backward, AdamW) of the network: fp32 (TF32 matmuls and
    convolutions on CUDA) or bf16 autocast; ``backend``: the network compiled in place as ``trainer.compile`` does."""
    if device.type == "cuda":  # fp32 training means TF32 matmuls and convolutions (inference's fp32 turns it off)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = network(sizes, device).train()
    if backend is not None:
        model.compile(backend=backend)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(sizes.train_batch, 2, sizes.kernel, device=device)
    y = (torch.rand(sizes.train_batch, 1, device=device) > 0.5).float()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    step()  # the first step compiles
    first = time.perf_counter() - started
    return {"samples_per_s": rate(step, sizes.train_batch, sizes.seconds, device, sizes.warmup),
            "batch": sizes.train_batch, "first_step_s": round(first, 2)}


class Inference:
    """The network as aframe-export leaves it (a torch.export program of the batch size) and its fp32 logits on the
    check windows, shared by the inference sections."""

    def __init__(self, sizes: Sizes, device: torch.device) -> None:
        self.sizes, self.device = sizes, device
        self.module = network(sizes, torch.device("cpu")).eval()
        self.program = export_program(self.module, 2, sizes.kernel, sizes.infer_batch)
        self.windows = check_windows(sizes.infer_batch, 2, sizes.kernel)
        with torch.no_grad():  # the reference: fp32 on the CPU (no TF32)
            self.expected = self.module(self.windows)
        self.batch = torch.randn(sizes.infer_batch, 2, sizes.kernel, device=device)

    def figures(self, run: Callable[[torch.Tensor], torch.Tensor]) -> dict:
        """Seconds of data per second and max |Δ| from fp32 torch of a runner taking a batch of windows."""
        with torch.inference_mode():
            difference = max_difference(run(self.windows.to(self.device)).float().cpu(), self.expected)
            windows = rate(lambda: run(self.batch), self.sizes.infer_batch, self.sizes.seconds, self.device,
                           self.sizes.warmup)
        return {"data_s_per_s": windows / self.sizes.inference_rate, "max_abs_difference": difference}

    def torch_rows(self, graphs: bool) -> dict:
        rows = {}
        for precision in self.sizes.precisions:
            run = at_precision(self.program, precision, self.device)
            runner = StaticRunner(run, tuple(self.batch.shape), self.device, graphs)
            rows[precision] = self.figures(runner)
        return rows

    def aotinductor(self, directory: Path) -> dict:
        """The program compiled by AOTInductor for this device at fp16 (then fp32 if time is left): compile time,
        rate and max |Δ|."""
        rows = {}
        for precision in ("fp16", "fp32"):
            started = time.perf_counter()
            path = compile_package(self.program, precision, self.device.type, directory / f"aoti-{precision}.pt2")
            compiled = time.perf_counter() - started
            package = torch._inductor.aoti_load_package(str(path))
            dtype = {"fp16": torch.float16, "fp32": torch.float32}[precision]
            rows[precision] = {"compile_s": compiled,
                               **self.figures(lambda x, p=package, d=dtype: p(x.to(d)).float())}
        return rows

    def onnxruntime(self, directory: Path) -> dict:
        """The fp32 ONNX export run by onnxruntime's CUDA provider (CPU provider in --smoke)."""
        import onnxruntime as ort

        provider = "CUDAExecutionProvider" if self.device.type == "cuda" else "CPUExecutionProvider"
        if provider not in ort.get_available_providers():
            return {"status": f"absent: onnxruntime {ort.__version__} has no {provider}"}
        path = directory / "model.onnx"
        torch.onnx.export(self.module, (self.windows,), str(path), dynamo=False, input_names=["whitened"],
                          output_names=["discriminator"], dynamic_axes={"whitened": {0: "batch"}})
        session = ort.InferenceSession(str(path), providers=[provider])

        def run(windows: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {"whitened": windows.cpu().numpy()})[0])

        return {"fp32": self.figures(run) | {"note": "host arrays in and out"}}

    def pipeline(self) -> dict:
        """read (host strain, pinned copy) -> whiten (ml4gw, on the device) -> windows -> model (torch + CUDA graphs
        at fp32) -> integrate, against the bare model loop over the same windows: seconds of data per second."""
        sizes, device = self.sizes, self.device
        stride = round(sizes.sample_rate / sizes.inference_rate)
        data = type("Data", (), {"sample_rate": sizes.sample_rate, "fduration": 1.0, "highpass": 32.0,
                                 "lowpass": None})()
        density = whitening.spectral_density(data, sizes.fftlength).to(device)
        whiten = whitening.whitener(data).to(device)
        psd, pad = round(sizes.psd_length * sizes.sample_rate), round(sizes.sample_rate / 2)
        block = sizes.infer_batch * max(1, round(sizes.psd_length * sizes.inference_rate / sizes.infer_batch))
        span = (block - 1) * stride + sizes.kernel + 2 * pad
        blocks = max(1, round(sizes.pipeline_seconds * sizes.inference_rate / block))
        strain = np.random.default_rng(0).normal(size=(2, psd + blocks * block * stride + span))
        runner = StaticRunner(at_precision(self.program, "fp32", device), tuple(self.batch.shape), device,
                              device.type == "cuda")

        def to_device(array: np.ndarray) -> torch.Tensor:
            tensor = torch.from_numpy(array)
            return tensor.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else tensor

        def analyse() -> np.ndarray:
            outputs = []
            for b in range(blocks):
                lo = psd + b * block * stride
                windows = whitened_windows(density, whiten, to_device(strain[:, lo - psd: lo]),
                                           to_device(strain[:, lo: lo + span]), sizes.kernel, stride)
                outputs += [runner(batch)[:, 0] for batch in windows.split(sizes.infer_batch)]
            return integrate(torch.cat(outputs).cpu().numpy(), round(1.5 * sizes.inference_rate))

        windows = blocks * block
        with torch.inference_mode():
            made = whitened_windows(density, whiten, to_device(strain[:, :psd]), to_device(strain[:, psd: psd + span]),
                                    sizes.kernel, stride)
            bare = rate(lambda: [runner(batch) for _ in range(blocks) for batch in made.split(sizes.infer_batch)],
                        windows, sizes.seconds, device, warmup=1)
            pipeline = rate(analyse, windows, sizes.seconds, device, warmup=1)
        return {"pipeline_data_s_per_s": pipeline / sizes.inference_rate,
                "bare_data_s_per_s": bare / sizes.inference_rate, "ratio": pipeline / bare}


def tensorrt() -> dict:
    try:
        import tensorrt as trt
    except ImportError as exc:
        return {"status": f"absent ({exc})"}
    return {"status": f"present ({trt.__version__}) but not measured here: aframe-export builds its plans"}


def machine(device: torch.device) -> dict:
    found = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device),
             "python": platform.python_version(), "host": platform.node(), "stand_ins": STOOD_IN}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        found |= {"card": properties.name, "memory_gib": round(properties.total_memory / 2**30, 1),
                  "capability": f"{properties.major}.{properties.minor}"}
    else:
        found["card"] = f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    try:
        import ml4gw

        found["ml4gw"] = getattr(ml4gw, "__version__", "present")
    except ImportError as exc:
        found["ml4gw"] = f"absent ({exc})"
    return found


def run_section(name: str, body: Callable[[], dict], limit: float, device: torch.device) -> dict:
    """``body``'s figures with its time, its status and the peak GPU memory; cut off after ``limit`` seconds."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(limit, 0.01))
    try:
        result = {"status": "ok", **body()}
    except SectionTimeout:
        result = {"status": f"timed out after {limit:g} s"}
    except Exception as exc:  # noqa: BLE001  (a failing backend is a figure too)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        result = {"status": f"error: {type(exc).__name__}: {first}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    result["seconds"] = round(time.perf_counter() - started, 2)
    if device.type == "cuda":
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    print(f"  {name}: {result['status']} ({result['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return result


def table(report: dict) -> str:
    """The figures as one text table, the issue's targets beside them."""
    sections = report["sections"]
    lines = [f"GPU check on {report['machine'].get('card')} (torch {report['machine']['torch']}, "
             f"{'smoke' if report['smoke'] else 'full'} sizes)", "",
             f"{'figure':<44} {'value':>14} {'max |Δ|':>10} {'target':>10}  note"]

    def row(figure: str, value, difference=None, target=None, note: str = "") -> None:
        value = f"{value:,.0f}" if isinstance(value, float) else str(value)
        difference = f"{difference:.2g}" if isinstance(difference, float) else ""
        lines.append(f"{figure:<44} {value:>14} {difference:>10} {target or '':>10}  {note}")

    for name, label in (("training fp32", "fp32 (TF32)"), ("training bf16", "bf16"),
                        ("training bf16 compiled", "bf16, torch.compile")):
        found = sections.get(name, {})
        first = found.get("first_step_s") if "compiled" in name else None
        compiled = f", first step {first:.0f} s" if first is not None else ""
        row(f"training samples/s, {label}", found.get("samples_per_s", found.get("status", "not run")),
            target=f"{TARGETS[name.removesuffix(' compiled')]:,.0f}",
            note=f"peak {found.get('peak_gpu_memory_gib', '-')} GiB{compiled}")
    for name in ("torch eager", "torch + CUDA graphs", "aotinductor", "onnxruntime"):
        found = sections.get(name, {})
        precisions = [key for key, value in found.items() if isinstance(value, dict)]
        if not precisions:
            row(f"inference s/s, {name}", found.get("status", "not run"), target=f"{TARGETS['inference']:,.0f}")
        for precision in precisions:
            figures = found[precision]
            note = f"compile {figures['compile_s']:.0f} s" if "compile_s" in figures else figures.get("note", "")
            row(f"inference s/s, {name} {precision}", figures["data_s_per_s"], figures["max_abs_difference"],
                f"{TARGETS['inference']:,.0f}", note)
    row("inference s/s, TensorRT", sections.get("tensorrt", {}).get("status", "not run"))
    found = sections.get("pipeline", {})
    if "ratio" in found:
        row("pipeline s/s (read, whiten, model, integrate)", found["pipeline_data_s_per_s"],
            note=f"bare model loop {found['bare_data_s_per_s']:,.0f} s/s: ratio {found['ratio']:.2f}")
    else:
        row("pipeline s/s (read, whiten, model, integrate)", found.get("status", "not run"))
    peaks = [s.get("peak_gpu_memory_gib") for s in sections.values() if s.get("peak_gpu_memory_gib") is not None]
    row("peak GPU memory, GiB", f"{max(peaks):.2f}" if peaks else "-")
    return "\n".join(lines)


def pack(directory: Path) -> int:
    """Copy ``PACKED`` from this environment into ``directory`` (put it on PYTHONPATH there), without compiled
    libraries: the GPU machine's own torch is another build."""
    for name in PACKED:  # each package and its metadata (jaxtyping asks importlib.metadata for its version)
        source = Path(importlib.util.find_spec(name).origin).parent
        for path in (source, *source.parent.glob(f"{name}-*.dist-info")):
            shutil.rmtree(directory / path.name, ignore_errors=True)
            shutil.copytree(path, directory / path.name, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    print(f"packed {', '.join(PACKED)} into {directory} ({size / 2**20:.1f} MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, seconds: checks the script runs")
    parser.add_argument("--output", type=Path, default=Path("gpu_check.json"), help="JSON written as sections end")
    parser.add_argument("--budget", type=float, default=215.0,
                        help="seconds for all sections together (imports and CUDA start-up come on top)")
    parser.add_argument("--work", type=Path, default=Path("gpu_check.work"), help="scratch (ONNX, AOTInductor)")
    parser.add_argument("--pack", type=Path, default=None,
                        help="copy the pure-Python packages a GPU machine lacks (ml4gw, ...) here, and stop")
    args = parser.parse_args(argv)
    if args.pack is not None:
        return pack(args.pack)
    started = time.perf_counter()
    device = torch.device("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    sizes = SMOKE if args.smoke else FULL
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(device), "smoke": args.smoke, "sizes": asdict(sizes), "targets": TARGETS,
              "sections": {}}
    shared: dict = {}

    def inference() -> Inference:
        if "inference" not in shared:
            shared["inference"] = Inference(sizes, device)
        return shared["inference"]

    bodies = {
        "training fp32": lambda: training(sizes, device, "fp32"),
        "training bf16": lambda: training(sizes, device, "bf16"),
        "torch eager": lambda: inference().torch_rows(graphs=False),
        "torch + CUDA graphs": lambda: inference().torch_rows(graphs=device.type == "cuda")
        | {"note": "" if device.type == "cuda" else "no CUDA: the same runner, eager"},
        "onnxruntime": lambda: inference().onnxruntime(args.work),
        "tensorrt": tensorrt,
        "pipeline": lambda: inference().pipeline(),
        "aotinductor": (lambda: inference().aotinductor(args.work)) if not args.smoke else
        (lambda: {"status": "skipped in --smoke: a CPU compile takes about a minute (tests/executables/infer runs "
                            "one)"}),
        # trainer.compile: inductor on the GPU; --smoke captures the same graph with aot_eager (no code generation)
        "training bf16 compiled": lambda: training(sizes, device, "bf16", "aot_eager" if args.smoke else "inductor"),
    }
    for name, body in bodies.items():
        left = args.budget - (time.perf_counter() - started)
        limit = min(SMOKE_LIMIT if args.smoke else LIMITS[name], left)
        if limit <= 1:
            report["sections"][name] = {"status": "not run: the budget was spent"}
            continue
        report["sections"][name] = run_section(name, body, limit, device)
        report["forbidden_modules_loaded"] = sorted(name for name in FORBIDDEN if name in sys.modules)
        args.output.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.output.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
