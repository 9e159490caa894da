"""Inference throughput of `aframe-infer` against bare model calls (issue 10, DESIGN §10).

Figures, each a ratio measured in one process on the same windows (best of alternating rounds):

1. pipeline / bare: one branch as ``aframe-infer`` searches it -- timeslid reads of a background file, PSD and
   whitening (training's ml4gw modules), windows, onnxruntime batches, integration and clustering -- against a
   bare ``session.run`` loop over the same whitened windows made beforehand. Target >= 0.8 (the default network;
   a tiny one shows the fixed per-window cost of the preprocessing).
2. onnxruntime / torch: the exported ``model.onnx`` in onnxruntime against the ``model.pt2`` program in torch,
   both on CPU over the same batches. Target >= 1.0.
3. strain checks: the share of the pipeline's time spent in ``read_background``'s value checks (NaN/infinity, zero
   over a PSD window), timed inside the same run (its fastest). Target <= 5 %.
4. Triton overhead: the same batches through a pytriton (CPU) server over gRPC against onnxruntime in-process,
   as milliseconds per request; only when the Triton virtualenv exists (``make .venv-triton/.installed``).

Inputs are synthetic (white noise) in a temporary directory; the model repository is written by aframe-export.

    python benchmarks/bench_infer.py                         # tiny [1, 1] and default [3, 4, 6, 3] ResNet1D
    python benchmarks/bench_infer.py --layers 1,1 --seconds 256
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from executables.export.export import export
from executables.formats import strain
from executables.formats.strain import write_background
from executables.infer.backends import OnnxBackend, TritonBackend
from executables.infer.inprocess import TorchBackend
from executables.infer.search import search_branch
from executables.infer.stream import Geometry, Preprocessor, Settings, open_branch
from executables.infer.triton import free_ports
from executables.repository.contract import ModelShape
from executables.train.model import build_resnet, to_torchscript

ROOT = Path(__file__).resolve().parents[1]
TRITON_PYTHON = ROOT / ".venv-triton" / "bin" / "python"
PYTRITON_SERVER = ROOT / "tests" / "executables" / "infer" / "pytriton_server.py"
SETTINGS = Settings(("H1", "L1"), 2048.0, 32.0, None, 1.0, 1.5, 4.0, (0.0, 1.0), 128, 64.0, 2.0, 1.5, 8.0)
T0 = 1_000_000_000


def write_inputs(root: Path, layers: list[int], seconds: float) -> tuple[Path, Path]:
    """A background file of ``seconds`` analysed at shift 1, and a model repository for ResNet1D ``layers``."""
    rng = np.random.default_rng(0)
    duration = int(SETTINGS.psd_length + seconds + 1)
    size = round(duration * SETTINGS.sample_rate)
    background = write_background(root / f"background-{T0}-{duration}.hdf5",
                                  {ifo: rng.normal(size=size) for ifo in SETTINGS.ifos}, T0, SETTINGS.sample_rate)
    kernel = round(SETTINGS.kernel_length * SETTINGS.sample_rate)
    torch.manual_seed(0)
    example = torch.randn(2, len(SETTINGS.ifos), kernel)
    to_torchscript(build_resnet(len(SETTINGS.ifos), layers), example).save(str(root / "model.pt"))
    repository = root / "model_repo"
    export(model=root / "model.pt", repository=repository, model_name="aframe", batch_size=SETTINGS.batch_size,
           ifos=list(SETTINGS.ifos), sample_rate=SETTINGS.sample_rate, kernel_length=SETTINGS.kernel_length,
           tensorrt="false", tolerance=1e-3, device="cpu", instances=1, precision="fp32")
    return background, repository


def best(functions: dict, rounds: int) -> dict[str, float]:
    """The best time of each function over ``rounds`` rounds that run them in turn (noise hits all alike)."""
    times = {name: float("inf") for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def drain(backend, batches) -> int:
    return sum(len(output) for output in backend.run(batches))


def start_pytriton(repository: Path) -> tuple[subprocess.Popen, str]:
    library = subprocess.run([str(TRITON_PYTHON), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ports = [str(port) for port in free_ports(3)]
    server = subprocess.Popen([str(TRITON_PYTHON), str(PYTRITON_SERVER), str(repository), "aframe", *ports],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, "LD_LIBRARY_PATH": library})
    return server, f"127.0.0.1:{ports[0]}"


def stop_pytriton(server: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            continue


def wait_for(url: str, timeout: float = 120.0) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                if client.is_model_ready("aframe"):
                    return
            except Exception:
                pass
            time.sleep(0.5)
    finally:
        client.close()
    raise RuntimeError(f"pytriton at {url} not ready in {timeout:g} s")


def bench(layers: list[int], seconds: float, rounds: int, triton: bool) -> None:
    geometry = Geometry.of(SETTINGS)
    shape = ModelShape(len(SETTINGS.ifos), geometry.kernel)
    name = f"layers {layers}, {seconds:g} s, batch {SETTINGS.batch_size}"
    with tempfile.TemporaryDirectory(prefix="bench-infer-") as directory:
        background, repository = write_inputs(Path(directory), layers, seconds)
        branch = open_branch(background, 1, SETTINGS, geometry)
        preprocessor = Preprocessor(SETTINGS, geometry, "cpu")
        onnx = OnnxBackend(repository, "aframe", shape, "cpu")
        batches = list(preprocessor.batches(branch))
        windows = sum(len(batch) for batch in batches)
        scripted = TorchBackend(repository, "aframe", shape, "cpu", "fp32")
        drain(onnx, batches[:1])  # warm up
        drain(scripted, batches[:1])
        check_strain = strain._check_strain
        search = partial(search_branch, branch, preprocessor, onnx, None, SETTINGS.ifos, SETTINGS.cluster_length,
                         background)

        checking = [0.0, float("inf")]  # seconds in the strain checks, seconds of that pipeline run

        def checked() -> None:
            spent, started = [0.0], time.perf_counter()

            def timed(*args, **kwargs) -> None:
                start = time.perf_counter()
                check_strain(*args, **kwargs)
                spent[0] += time.perf_counter() - start

            with mock.patch.object(strain, "_check_strain", timed):
                search()
            total = time.perf_counter() - started
            if total < checking[1]:
                checking[:] = [spent[0], total]

        times = best({
            "pipeline": search,
            "checked": checked,
            "bare": lambda: [onnx.session.run(["discriminator"], {"whitened": b}) for b in batches],
            "torch": lambda: drain(scripted, batches),
        }, rounds)
        pipeline, ort_time, torch_time = times["pipeline"], times["bare"], times["torch"]
        print(f"strain checks ({name}): {100 * checking[0] / checking[1]:.2f}% of the pipeline's time "
              "(target <= 5%)")
        print(f"pipeline ({name}): aframe-infer {windows / pipeline:,.0f} windows/s, bare session.run "
              f"{windows / ort_time:,.0f} windows/s, ratio {ort_time / pipeline:.2f} (target >= 0.8)")
        print(f"onnxruntime vs torch ({name}): onnxruntime {windows / ort_time:,.0f} windows/s, torch "
              f"{windows / torch_time:,.0f} windows/s, ratio {torch_time / ort_time:.2f} (target >= 1.0)")
        if not triton:
            return
        if not TRITON_PYTHON.is_file():
            print(f"triton ({name}): skipped, no Triton virtualenv at {TRITON_PYTHON.parent.parent}")
            return
        server, url = start_pytriton(repository)
        try:
            wait_for(url)
            remote = TritonBackend(url, "aframe", shape, SETTINGS.batch_size)
            drain(remote, batches[:1])
            times = best({"triton": lambda: drain(remote, batches), "onnxruntime": lambda: drain(onnx, batches)},
                         rounds)
            triton_time, ort_time = times["triton"], times["onnxruntime"]
            remote.close()
        finally:
            stop_pytriton(server)
        overhead = (triton_time - ort_time) / len(batches) * 1e3
        print(f"triton ({name}): pytriton CPU {windows / triton_time:,.0f} windows/s, onnxruntime in-process "
              f"{windows / ort_time:,.0f} windows/s, ratio {ort_time / triton_time:.2f}, overhead "
              f"{overhead:.1f} ms per request of {SETTINGS.batch_size} windows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", action="append", help="ResNet1D layers, e.g. 1,1 (repeatable)")
    parser.add_argument("--seconds", type=float, default=64.0, help="analysed seconds of the branch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-triton", action="store_true", help="skip the Triton figure")
    args = parser.parse_args()
    for layers in args.layers or ["1,1", "3,4,6,3"]:
        bench([int(n) for n in layers.split(",")], args.seconds, args.rounds, not args.no_triton)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
