"""Checks across keys: a config whose values are each fine but impossible together."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError, did_you_mean
from ..names import DONE
from .noise_psds import NOISE_PSDS

# the [reference] programs, which need PyCBC
REFERENCE_PROGRAMS = ("aframe-reference-bank", "aframe-reference-filter")
# where `make reference` builds their environment in a checkout
CHECKOUT_REFERENCE = Path(__file__).resolve().parents[2] / ".venv-reference"

# [data] keys that take one value for every ifo or one per ifo (types.PerIfo)
PER_IFO_KEYS = ("noise_psd", "frame_type", "flag")


def _require(condition: bool, message: str, config, section: str, key: str) -> None:
    if not condition:
        raise ConfigError(message, config.path, section, key)


def _check_data(config) -> None:
    data = config["data"]
    nyquist = data["sample_rate"] / 2
    _require(data["train_stop"] > data["train_start"], "must be after train_start", config, "data", "train_stop")
    _require(data["test_stop"] > data["train_stop"], "must be after train_stop", config, "data", "test_stop")
    _require(data["highpass"] < nyquist, f"must be below the Nyquist frequency {nyquist:g} Hz",
             config, "data", "highpass")
    if data["lowpass"] is not None:
        _require(data["highpass"] < data["lowpass"] < nyquist,
                 f"must lie between highpass and the Nyquist frequency {nyquist:g} Hz", config, "data", "lowpass")
    for kind in ("train", "test"):
        key = f"min_{kind}_segment_length"
        _require(data[key] <= data["max_segment_length"], "must not exceed max_segment_length", config, "data", key)
        _require(data["kernel_length"] + data["fduration"] < data[key],
                 f"kernel_length + fduration must be shorter than {key} ({data[key]} s)",
                 config, "data", "kernel_length")


def _check_detectors(config) -> None:
    """Per-ifo keys give one value or one per ifo, PSDs are lalsimulation's, frames have one channel per ifo."""
    data = config["data"]
    ifos = data["ifos"]
    for key in PER_IFO_KEYS:
        values = data[key] or ()
        _require(len(values) in (0, 1, len(ifos)), f"give one value, or one per ifo ({len(ifos)}: {', '.join(ifos)}),"
                 f" not {len(values)}", config, "data", key)
    for name in data["noise_psd"]:
        _require(name in NOISE_PSDS, f"'{name}' is not a noise PSD of lalsimulation (SimNoisePSD<name>)"
                 + (did_you_mean(name, NOISE_PSDS) or ", e.g. aLIGODesignSensitivityT1800044 (LIGO) or "
                    "AdVDesignSensitivityP1200087 (Virgo)"), config, "data", "noise_psd")
    if data["source"] == "frames":
        channels = data["channels"] or ()
        prefixes = [channel.split(":", 1)[0] for channel in channels]
        strays = [channel for channel, prefix in zip(channels, prefixes, strict=True) if prefix not in ifos]
        _require(not strays, f"{', '.join(strays)}: not the channel of one of the ifos ({', '.join(ifos)})",
                 config, "data", "channels")
        odd = [f"{prefixes.count(ifo)} for {ifo}" for ifo in ifos if prefixes.count(ifo) != 1]
        _require(not odd, f"the frames source needs one channel per ifo, not {', '.join(odd)}",
                 config, "data", "channels")


def _check_waveforms(config) -> None:
    waveforms, data = config["waveforms"], config["data"]
    _require(waveforms["right_pad"] < waveforms["duration"], "must be shorter than duration",
             config, "waveforms", "right_pad")
    _require(data["kernel_length"] <= waveforms["duration"],
             f"must not exceed [waveforms] duration ({waveforms['duration']:g} s)", config, "data", "kernel_length")
    _require(waveforms["minimum_frequency"] < data["sample_rate"] / 2, "must be below the Nyquist frequency",
             config, "waveforms", "minimum_frequency")


def _check_testing(config) -> None:
    testing, ifos = config["testing"], config["data"]["ifos"]
    _require(len(testing["shifts"]) == len(ifos), f"needs one shift per ifo ({len(ifos)})",
             config, "testing", "shifts")
    stray = [item for item in testing["vetoes"] if item.partition(":")[0] not in ifos]
    _require(not stray, f"names {stray[0] if stray else ''}: give IFO:path with IFO one of {', '.join(ifos)}",
             config, "testing", "vetoes")
    _require(config["infer"]["fftlength"] <= config["infer"]["psd_length"], "must not exceed psd_length",
             config, "infer", "fftlength")
    swapped = [f"{a:g}:{b:g}" for a, b in config["sv"]["mass_combos"] if a < b]
    _require(not swapped, f"lists the heavier mass first (m1:m2 with m1 >= m2), not {', '.join(swapped)}",
             config, "sv", "mass_combos")


def _check_training(config) -> None:
    if config["tune"]["enabled"]:
        _require(bool(config["tune"]["space"]), "must list at least one parameter when tuning",
                 config, "tune", "space")
        _require(config["train"]["remote"] == "none", "tuning runs on the pool; remote training needs enabled = false",
                 config, "train", "remote")
    if config["train"]["remote"] == "kubernetes":
        for key in ("train_data_dir", "train_run_dir"):
            _require(config["run"][key].startswith("s3://"), "must be an s3:// URL when training on Kubernetes",
                     config, "run", key)


def _check_model(config) -> None:
    """A model to export replaces training, so it must exist (export checks what it holds) and nothing may train."""
    model = config["train"]["model"]
    if model is None:
        return
    if not model.startswith("s3://"):
        _require(Path(model).is_file(), f"no such file: {model} (the model.pt to export)", config, "train", "model")
    for section, key, training, wanted in (("tune", "enabled", config["tune"]["enabled"], "false"),
                                           ("train", "remote", config["train"]["remote"] != "none", "none")):
        _require(not training, f"must be {wanted}: [train] model = {model} skips training", config, section, key)


def _check_transfer(config) -> None:
    """Without a shared filesystem the node programs must come from an image or a software area the execute nodes
    see, and tune trials cannot share their study's journal."""
    condor = config["condor"]
    if condor["filesystem"] != "transfer":
        return
    if condor["universe"] != "container" and not condor["executable_dir"]:
        raise ConfigError("filesystem = transfer needs the node programs where the execute nodes are: set universe = "
                          "container with container_image, or executable_dir (a software area they mount)",
                          config.path, "condor", "filesystem")
    if config["tune"]["enabled"]:
        raise ConfigError("tune trials share one study journal on the access point, which needs filesystem = "
                          "shared; tune on a pool with a shared filesystem", config.path, "tune", "enabled")


def _check_reuse(config) -> None:
    """Each run to reuse must be another run's condor dir, whose done-markers build reads."""
    condor_dir = Path(config["run"]["condor_dir"])
    for directory in map(Path, config["run"]["reuse"]):
        _require(directory.is_absolute(), f"must list absolute paths (got '{directory}')", config, "run", "reuse")
        _require(directory != condor_dir, f"{directory} is this run's own condor dir", config, "run", "reuse")
        _require((directory / DONE).is_dir(), f"{directory} has no done/ directory: not the condor dir of an "
                 "aframe-dag run", config, "run", "reuse")


def _check_reference(config) -> None:
    """The matched filter's programs need PyCBC: from [reference] environment when set, else beside aframe-dag (a
    container image or a software area the access point cannot see is not checked)."""
    reference, condor = config["reference"], config["condor"]
    if not reference["matched_filter"] or condor["universe"] == "container":
        return
    hint = f" (make reference built {CHECKOUT_REFERENCE})" if CHECKOUT_REFERENCE.is_dir() else \
        " (make reference builds .venv-reference in a checkout)"
    environment = reference["environment"]
    if environment:
        missing = [name for name in REFERENCE_PROGRAMS if not (Path(environment) / "bin" / name).is_file()]
        _require(not missing, f"{environment}/bin has no {missing[0] if missing else ''}: name a Python environment "
                 f"with aframe-dag[reference] installed{hint}", config, "reference", "environment")
    elif not condor["executable_dir"]:
        _require(importlib.util.find_spec("pycbc") is not None, "must name a Python environment with "
                 f"aframe-dag[reference] installed when matched_filter = true: PyCBC is not beside aframe-dag{hint}",
                 config, "reference", "environment")


def check_config(config, allow_missing: bool = False) -> dict[tuple[str, str], str]:
    """Raise ConfigError for the first impossible combination of values or (unless ``allow_missing``) key still to
    set; return the keys still to set. Remote training's own checks come after those keys: they assume its image."""
    for check in (_check_data, _check_detectors, _check_waveforms, _check_testing, _check_model, _check_reuse,
                  _check_transfer, _check_reference):
        check(config)
    missing = missing_keys(config)
    if missing and not allow_missing:
        (section, key), why = next(iter(missing.items()))
        raise ConfigError(why, config.path, section, key)
    _check_training(config)
    return missing


def missing_keys(config) -> dict[tuple[str, str], str]:
    """(section, key) -> why it must be set, for each key the config needs but leaves empty: what a user fills in
    after `init`, which `config show` marks and everything else refuses."""
    condor = config["condor"]
    needed = [
        (condor["require_accounting"], "condor", "accounting_group",
         f"must be set for site '{condor['site']}' (e.g. ligo.dev.o4.cbc.allsky.aframe; see the accounting tag list "
         "of your pool), or use site = local"),
        (condor["universe"] == "container", "condor", "container_image", "must be set when universe = container"),
        (config["train"]["remote"] == "kubernetes", "kubernetes", "image",
         "must be set when [train] remote = kubernetes"),
    ]
    return {(section, key): why for needs, section, key, why in needed if needs and not config[section][key]}


def node_log_refusal(condor_dir, site: str) -> str | None:
    """Why a pool's DAGMan would refuse this condor dir, or None; site local (`aframe-dag run` only) is exempt."""
    path = Path(condor_dir)
    if site != "local" and Path("/tmp") in (path, *path.parents):
        return "is under /tmp, where DAGMan refuses to keep its node log"
    return None
