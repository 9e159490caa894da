"""`aframe-infer`: the network over a bundle of timeslid test branches -> one per-node events file (DESIGN §6, §12).

Each ``--branch SHIFT_INDEX:FILE`` is a background file read with shift index ``i`` (ifo ``k`` offset by
``i * shifts[k]`` s; ``executables.infer.stream`` has the geometry). Before any model runs, the node checks the bundle
against the plan: every file as long as its name says, the background livetime of the shifted branches summed
equal to ``--expected-livetime`` and the accepted injections falling in the branches equal to
``--expected-injections`` -- any difference exits 2. Per branch: whitened windows (training's PSD and whitening,
PSD from the background stream only) -> the backend (``--server onnxruntime | torch | aotinductor | triton`` at
``--precision``; torch and AOTInductor take the windows where they were whitened, on the device) -> boxcar
integration over ``--integration-length`` -> clustering (the loudest within ``--cluster-length``) -> events:
zero-lag for shift 0, background otherwise; then the foreground stream (the same data plus the branch's
injections) gives each injection the loudest integrated output within ``+- cluster_length / 2`` of its time.

``--server triton`` starts the node's own ``--tritonserver`` (``executables.infer.triton``) unless ``--triton-url``
names a running one; on ``cuda`` with TensorRT it serves this GPU's plan, built once per device
(``executables.infer.plans``).

``--output`` is written once, atomically, by ``executables.formats.events.write_node_events`` with one
``BranchRecord`` per branch; a killed node leaves nothing, and a rerun writes the same events.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import click

from aframe_dag.inference import PRECISIONS
from executables.common.branches import (
    LIVETIME_TOLERANCE,
    checked_branches,
    parse_branch,
    parse_shifts,
    timeslid_injections,
)
from executables.common.cli import device_option, node_options, parse_ifos, require_device
from executables.common.errors import InputError, PermanentError
from executables.common.shared import data_option
from executables.formats.events import BranchRecord, EventSet, RecoveredInjectionSet, joined, write_node_events
from executables.formats.placement import select_injections
from executables.infer.backends import ON_DEVICE, SERVERS, ModelShape, TritonOptions, open_backend
from executables.infer.search import search_branch
from executables.infer.stream import Branch, Geometry, Preprocessor, Settings, open_branch

log = logging.getLogger("aframe-infer")

def open_bundle(specs: Sequence[tuple[int, Path]], settings: Settings, geometry: Geometry,
                expected_livetime: float) -> list[Branch]:
    """Every branch checked against its file, and their background livetime against the plan's."""
    seen = set()
    for index, path in specs:
        key = (index, Path(path).resolve())
        if key in seen:
            raise click.BadParameter(f"branch {index}:{path} is given twice", param_hint="--branch")
        seen.add(key)
    branches = [open_branch(path, index, settings, geometry) for index, path in specs]
    livetime = math.fsum(branch.livetime for branch in branches if branch.background)
    if abs(livetime - expected_livetime) > LIVETIME_TOLERANCE * max(1.0, expected_livetime):
        detail = ", ".join(f"{b.label} {b.livetime:g} s" for b in branches if b.background)
        raise PermanentError(f"the bundle's background livetime is {livetime:.9g} s, the plan expects "
                             f"{expected_livetime:.9g} s (--expected-livetime); branches: {detail or 'none'}")
    return branches


@click.command()
@node_options
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Triton model repository written by aframe-export.")
@click.option("--model-name", required=True, help="Model in the repository.")
@timeslid_injections
@data_option("kernel_length", positive=True, required=True, help="Seconds.")
@data_option("fduration", positive=True, required=True)
@data_option("highpass", positive=True, required=True)
@data_option("lowpass", positive=True, default=None)
@data_option("inference_sampling_rate", positive=True, required=True)
@click.option("--batch-size", type=click.IntRange(min=1), required=True, help="Windows per inference request.")
@click.option("--psd-length", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Seconds of background behind each whitening PSD (the dead time at each file's start).")
@click.option("--fftlength", type=click.FloatRange(min=0, min_open=True), required=True,
              help="FFT length of the PSD estimate, seconds.")
@click.option("--integration-length", type=click.FloatRange(min=0), required=True,
              help="Boxcar over the network outputs, seconds.")
@click.option("--cluster-length", type=click.FloatRange(min=0), required=True,
              help="Only the loudest event within this many seconds is kept.")
@click.option("--server", type=click.Choice(SERVERS), default="onnxruntime", show_default=True,
              help="Where the network runs.")
@click.option("--triton-image", default=None, help="Container with tritonserver (apptainer exec --nv).")
@click.option("--tritonserver", default="tritonserver", show_default=True,
              help="The Triton server binary: a name looked up on PATH, or its path.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Precision of the network: torch and aotinductor run it at any, triton's TensorRT plan at fp32 "
                   "or fp16, onnxruntime at fp32.")
@click.option("--triton-url", default=None, help="HOST:PORT of a running Triton server (gRPC) to use instead.")
@device_option()
@checked_branches
def main(repository: Path, model_name: str, injections: Path, ifos: str, shifts: str, sample_rate: float,
         kernel_length: float, fduration: float, highpass: float, lowpass: float | None,
         inference_sampling_rate: float, batch_size: int, psd_length: float, fftlength: float,
         integration_length: float, cluster_length: float, server: str, triton_image: str | None,
         tritonserver: str, precision: str, triton_url: str | None, device: str, expected_livetime: float,
         expected_injections: int, output: Path, branch_specs: tuple[str, ...]) -> list[Path]:
    """Search a bundle of timeslid branches and write its background, zero-lag and foreground events."""
    require_device(device)
    names = parse_ifos(ifos)
    settings = Settings(tuple(names), sample_rate, highpass, lowpass, fduration, kernel_length, inference_sampling_rate,
                        parse_shifts(shifts, names), batch_size, psd_length, fftlength, integration_length,
                        cluster_length)
    try:
        geometry = Geometry.of(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if fftlength > psd_length:
        raise click.BadParameter(f"{fftlength:g} s is longer than --psd-length {psd_length:g} s",
                                 param_hint="--fftlength")
    if geometry.warmup > geometry.psd:
        raise click.BadParameter(f"{psd_length:g} s cannot hold the {geometry.warmup / sample_rate:g} s the first "
                                 "window reads before the analysed span (fduration + kernel + integration)",
                                 param_hint="--psd-length")
    branches = open_bundle([parse_branch(spec) for spec in branch_specs], settings, geometry, expected_livetime)
    chosen = select_injections(injections, branches, names, sample_rate)
    count = sum(len(c.rows) for c in chosen if c is not None)
    if count != expected_injections:
        raise InputError(injections, "parameters/injection_time",
                         f"{count} accepted injections fall in this bundle's branches, the plan expects "
                         f"{expected_injections} (--expected-injections)")
    log.info("%d branches (%g s of background livetime), %d injections, server %s on %s at %s", len(branches),
             expected_livetime, count, server, device, precision)

    preprocessor = Preprocessor(settings, geometry, device, on_device=server in ON_DEVICE)
    shape = ModelShape(len(names), geometry.kernel)
    records, background, zero_lag, foreground = [], [], [], []
    triton = TritonOptions(triton_url, triton_image, tritonserver)
    with open_backend(server, repository, model_name, shape, device, batch_size, precision, triton) as backend:
        for number, (branch, injected) in enumerate(zip(branches, chosen, strict=True), start=1):
            log.info("branch %d of %d: %s", number, len(branches), branch.label)
            result = search_branch(branch, preprocessor, backend, injected, names, cluster_length, injections)
            (background if branch.background else zero_lag).append(result.events)
            if result.foreground is not None:
                foreground.append(result.foreground)
            records.append(BranchRecord(branch.label, branch.index, branch.livetime, branch.background,
                                        0 if injected is None else len(injected.rows)))
    write_node_events(output, records, joined(EventSet, background, names),
                      joined(EventSet, zero_lag, names), joined(RecoveredInjectionSet, foreground, names))
    log.info("wrote %s", output)
    return [output]
