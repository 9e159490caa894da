"""`aframe-reference-bank`: an aligned-spin template bank for the injection prior, placed by PyCBC's
``pycbc_brute_bank`` (stochastic placement with IMR waveforms) against the test data's own noise.

The bank covers the detector-frame component masses and the aligned spin components (``a cos(tilt)``) that
``--prior`` draws (``PRIOR_DRAWS`` seeded draws; ``--mass1``/``--mass2``/``--spin`` override them), with
``mass1 >= mass2``. Its PSD is the mean over ifos of the conditioned background PSDs of ``--background`` (as the
filter node estimates them), handed to the bank tool as an ASD file. ``--output`` is pycbc_brute_bank's HDF5 file,
moved into place once complete, with the ranges it covers as attributes.

Runs in an environment with PyCBC (the ``reference`` extra; ``make`` builds ``.venv-reference``).
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import h5py
import numpy as np

from executables.common.atomic import atomic_path
from executables.common.cli import given_ifos, node_options
from executables.common.errors import PermanentError
from executables.common.seeding import node_rng
from executables.common.shared import data_option
from executables.formats.strain import read_background
from executables.sources.priors import get_prior

log = logging.getLogger("aframe-reference-bank")

#: Prior draws whose extremes give the bank's ranges.
PRIOR_DRAWS = 20_000
BANK_TOOL = "pycbc_brute_bank"


def prior_ranges(prior: str, seed: int) -> dict[str, tuple[float, float]]:
    """Detector-frame ``mass1``/``mass2`` (Msun) and aligned ``spin`` component ranges the prior draws."""
    params = get_prior(prior).sample(PRIOR_DRAWS, node_rng(seed, "reference-bank"))
    spins = np.concatenate([params["a_1"] * np.cos(params["tilt_1"]), params["a_2"] * np.cos(params["tilt_2"])])
    return {"mass1": (float(params["mass_1"].min()), float(params["mass_1"].max())),
            "mass2": (float(params["mass_2"].min()), float(params["mass_2"].max())),
            "spin": (float(spins.min()), float(spins.max()))}


def parse_range(value: str | None, option: str) -> tuple[float, float] | None:
    """``MIN:MAX`` (finite, MIN <= MAX) or None."""
    if value is None:
        return None
    try:
        low, high = (float(part) for part in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"expected MIN:MAX, got {value!r}", param_hint=option) from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise click.BadParameter(f"need finite MIN <= MAX, got {value!r}", param_hint=option)
    return low, high


def placement_config(ranges: dict[str, tuple[float, float]], approximant: str, f_low: float) -> str:
    """pycbc_brute_bank's ``--input-config``: uniform in each range, ``mass1 >= mass2``."""
    lines = ["[variable_params]", "mass1 =", "mass2 =", "spin1z =", "spin2z =", "",
             "[static_params]", f"approximant = {approximant}", f"f_lower = {f_low!r}", ""]
    bounds = {"mass1": ranges["mass1"], "mass2": ranges["mass2"], "spin1z": ranges["spin"], "spin2z": ranges["spin"]}
    for name, (low, high) in bounds.items():
        high = high if high > low else low + 1e-6  # a fixed value (e.g. zero spins) as a sliver
        lines += [f"[prior-{name}]", "name = uniform", f"min-{name} = {low!r}", f"max-{name} = {high!r}", ""]
    lines += ["[constraint-1]", "name = custom", "constraint_arg = mass1 >= mass2", ""]
    return "\n".join(lines)


def write_asd(background: Path, ifos: list[str], sample_rate: float, f_low: float, psd_length: float,
              path: Path) -> None:
    """The mean conditioned background PSD of the file's ifos as a two-column ASD text file (Hz, strain/rtHz)."""
    from pycbc.psd import welch

    from executables.reference.conditioning import condition

    strain, t0, rate = read_background(background, ifos, sample_rate=sample_rate, psd_length=psd_length)
    samples = round(4 * rate)
    psds = [welch(condition(strain[ifo], rate, t0, f_low), seg_len=samples, seg_stride=samples // 2,
                  avg_method="median") for ifo in ifos]
    mean = np.mean([psd.numpy() for psd in psds], axis=0)
    frequencies = psds[0].sample_frequencies.numpy()
    keep = frequencies > 0
    np.savetxt(path, np.column_stack([frequencies[keep], np.sqrt(mean[keep])]))


def tool_arguments(ranges: dict[str, tuple[float, float]], approximant: str, f_low: float, sample_rate: float,
                   minimal_match: float, seed: int) -> list[str]:
    """The placement's options: buffer and tau0 span from the lightest and heaviest corners of the ranges."""
    from pycbc.conversions import tau0_from_mass1_mass2
    from pycbc.waveform import get_waveform_filter_length_in_time

    (m1_low, m1_high), (m2_low, m2_high) = ranges["mass1"], ranges["mass2"]
    corners = [(a, min(b, a)) for a in (m1_low, m1_high) for b in (m2_low, m2_high)]
    tau0 = [float(tau0_from_mass1_mass2(a, b, f_low)) for a, b in corners]
    longest = max(get_waveform_filter_length_in_time(approximant, mass1=a, mass2=b, f_lower=f_low)
                  for a, b in corners)
    buffer = 2 ** max(2, math.ceil(math.log2(longest + 1)))
    start, end = 0.95 * min(tau0), 1.05 * max(tau0)
    return ["--minimal-match", repr(minimal_match), "--buffer-length", str(buffer), "--sample-rate",
            f"{sample_rate:g}", "--low-frequency-cutoff", repr(f_low), "--seed", str(seed % 2**32),
            "--tau0-threshold", "0.5", "--tau0-start", repr(start), "--tau0-end", repr(end),
            "--tau0-crawl", repr(end - start + 1e-3), "--tau0-cutoff-frequency", repr(f_low)]


@click.command()
@node_options
@click.option("--prior", required=True, help="The injection prior whose masses and spins the bank covers.")
@click.option("--background", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A test background file whose PSD the bank is placed against.")
@data_option("ifos", default="H1,L1", show_default=True, help="Comma-separated interferometers.")
@data_option("sample_rate", positive=True, required=True)
@click.option("--psd-length", type=click.FloatRange(min=0), default=None,
              help="Seconds a PSD window spans (a file zero over this long is refused), as the plan passes it.")
@click.option("--approximant", default="IMRPhenomD", show_default=True, help="Aligned-spin waveform of the bank.")
@click.option("--minimal-match", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.97,
              show_default=True, help="Every point of the ranges matches some template at least this well.")
@click.option("--f-low", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Low frequency cutoff of the templates, Hz.")
@click.option("--mass1", default=None, help="MIN:MAX detector-frame Msun [default: what the prior draws].")
@click.option("--mass2", default=None, help="MIN:MAX detector-frame Msun [default: what the prior draws].")
@click.option("--spin", default=None, help="MIN:MAX aligned spin component [default: what the prior draws].")
@click.option("--seed", type=int, required=True, help="The run's seed.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Bank file to write.")
def main(prior: str, background: Path, ifos: str, sample_rate: float, psd_length: float | None, approximant: str,
         minimal_match: float, f_low: float, mass1: str | None, mass2: str | None, spin: str | None, seed: int,
         output: Path) -> list[Path]:
    """Place the bank for the injection prior and write it."""
    tool = Path(sys.executable).with_name(BANK_TOOL)
    if not tool.is_file():
        raise PermanentError(f"{BANK_TOOL} is not beside {sys.executable}: run this node from an environment with "
                             "aframe-dag[reference] (make builds .venv-reference)")
    ranges = prior_ranges(prior, seed)
    for name, value in (("mass1", mass1), ("mass2", mass2), ("spin", spin)):
        ranges[name] = parse_range(value, f"--{name}") or ranges[name]
    log.info("bank for prior %s: %s", prior, ", ".join(f"{k} {a:.4g}..{b:.4g}" for k, (a, b) in ranges.items()))
    with tempfile.TemporaryDirectory(prefix="aframe-reference-bank-") as scratch:
        config, asd = Path(scratch) / "bank.ini", Path(scratch) / "asd.txt"
        config.write_text(placement_config(ranges, approximant, f_low), encoding="utf-8")
        write_asd(background, given_ifos(ifos), sample_rate, f_low, psd_length, asd)
        with atomic_path(output) as temporary:
            command = [str(tool), "--output-file", str(temporary), "--input-config", str(config), "--asd-file",
                       str(asd), *tool_arguments(ranges, approximant, f_low, sample_rate, minimal_match, seed)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise PermanentError(f"{BANK_TOOL} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
            with h5py.File(temporary, "a") as handle:
                count = len(handle["mass1"])
                handle.attrs.update(prior=prior, f_lower=f_low, **{f"{k}_range": v for k, v in ranges.items()})
    log.info("%d templates at minimal match %g", count, minimal_match)
    return [output]
