"""``train.yaml`` for ``aframe-train``: defaults, reading, checks (shared parameters come from the command line)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from executables.common.errors import InputError

# The shape of train.yaml with its defaults (aframe's science defaults, DESIGN §6); a key outside it is an error.
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"architecture": "resnet1d", "layers": [3, 4, 6, 3], "norm_groups": 16, "kernel_size": 3},
    "optimizer": {"learning_rate": 5.85e-4, "weight_decay": 0.0, "pct_lr_ramp": 0.115},
    "data": {
        "batch_size": 384,
        "batches_per_epoch": 200,
        "psd_length": 8.0,
        "fftlength": None,
        "waveform_prob": 0.277,
        "swap_prob": 0.014,
        "mute_prob": 0.055,
        "invert_prob": 0.5,
        "reverse_prob": 0.5,
        "snr": {"minimum": 4.0, "maximum": 100.0, "index": -3.0},
        "max_waveform_memory_gb": 4.0,
    },
    "validation": {
        "fraction": 0.25,
        "stride": 0.5,
        "num_views": 5,
        "livetime": 57600.0,
        "max_fpr": 1.0e-3,
        "pool_length": 8.0,
        "batch_size": 256,
    },
    "trainer": {"max_epochs": 200, "patience": 50, "precision": 32, "log_every_n_steps": 20},
}

# Set once in run.ini and passed on the command line; repeating one in train.yaml is an error (issue 9).
SHARED_KEYS = frozenset({
    "ifos", "sample_rate", "highpass", "lowpass", "fduration", "kernel_length", "inference_sampling_rate", "seed",
})


@dataclass(frozen=True)
class Shared:
    """The data parameters every stage shares (from the command line)."""

    ifos: tuple[str, ...]
    sample_rate: float
    highpass: float
    lowpass: float | None
    fduration: float
    kernel_length: float
    inference_sampling_rate: float
    seed: int

    @property
    def kernel_size(self) -> int:
        return round(self.kernel_length * self.sample_rate)


def _find_shared(tree: Any, where: str) -> str | None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in SHARED_KEYS:
                return f"{where}{key}"
            found = _find_shared(value, f"{where}{key}.")
            if found:
                return found
    return None


def _merge(path: Path, defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise InputError(path, f"{where}{key}", f"unknown key; expected one of {', '.join(sorted(defaults))}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise InputError(path, f"{where}{key}", f"must be a mapping, got {value!r}")
            merged[key] = _merge(path, defaults[key], value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def check_config(path: Path, config: dict[str, Any]) -> None:
    """Range checks that name the field; types are left to the code that uses each value."""
    def need(ok: bool, field: str, message: str) -> None:
        if not ok:
            raise InputError(path, field, message)

    data, valid, model = config["data"], config["validation"], config["model"]
    need(model["architecture"] == "resnet1d", "model.architecture", "only 'resnet1d' is built")
    need(isinstance(model["layers"], list) and len(model["layers"]) >= 1
         and all(isinstance(n, int) and n >= 1 for n in model["layers"]), "model.layers",
         f"must be a list of positive integers, got {model['layers']!r}")
    need(int(data["batch_size"]) >= 1, "data.batch_size", "must be >= 1")
    need(int(data["batches_per_epoch"]) >= 1, "data.batches_per_epoch", "must be >= 1")
    need(float(data["psd_length"]) > 0, "data.psd_length", "must be > 0")
    for key in ("waveform_prob", "swap_prob", "mute_prob", "invert_prob", "reverse_prob"):
        need(0.0 <= float(data[key]) <= 1.0, f"data.{key}", f"must be a probability, got {data[key]!r}")
    snr = data["snr"]
    need(0 < float(snr["minimum"]) < float(snr["maximum"]), "data.snr", "needs 0 < minimum < maximum")
    need(0.0 < float(valid["fraction"]) < 1.0, "validation.fraction", "must be in (0, 1)")
    need(float(valid["stride"]) > 0, "validation.stride", "must be > 0")
    need(int(valid["num_views"]) >= 1, "validation.num_views", "must be >= 1")
    need(0.0 < float(valid["max_fpr"]) <= 1.0, "validation.max_fpr", "must be in (0, 1]")
    need(int(config["trainer"]["max_epochs"]) >= 1, "trainer.max_epochs", "must be >= 1")


def set_values(path: Path, config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with each dotted ``train.yaml`` path in ``values`` set (a tune trial's parameters), checked
    again; a path that is not a leaf of train.yaml is an ``InputError`` naming it."""
    config = copy.deepcopy(config)
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        section: Any = config
        for key in parents:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict) or leaf not in section or isinstance(section[leaf], dict):
            raise InputError(path, dotted, "is not a train.yaml setting (a dotted path such as "
                                           "optimizer.learning_rate)")
        section[leaf] = value
    check_config(path, config)
    return config


def read_config(path: Path) -> dict[str, Any]:
    """Read train.yaml (``yaml.safe_load``), refuse shared or unknown keys, fill in the defaults."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        given = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(given, dict):
        raise InputError(path, None, f"must be a mapping of sections, got {type(given).__name__}")
    shared = _find_shared(given, "")
    if shared:
        raise InputError(path, shared, "is a shared parameter: it is set once in run.ini and passed on the "
                                       "command line, so it must not appear in train.yaml")
    config = _merge(Path(path), DEFAULTS, given, "")
    check_config(Path(path), config)
    return config
