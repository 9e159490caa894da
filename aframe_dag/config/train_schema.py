"""train.yaml's one schema (shape, defaults, types, ranges), so `build` refuses what aframe-train would; no torch."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import did_you_mean
from .schema import SHARED


class TrainYamlError(ValueError):
    """A train.yaml problem at a dotted key (None: the whole file); `build` and aframe-train each add the path."""

    def __init__(self, key: str | None, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key, self.message = key, message


# YAML 1.1 (PyYAML) reads `1e-3` as text; such text is taken as the number it spells.
_NUMBER_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Number:
    """A finite number in an interval written as text, e.g. '(0, 1]'; optional: null is allowed too."""

    interval: str = "(-inf, inf)"
    optional: bool = False

    @property
    def ends(self) -> tuple[str, str]:
        low, high = self.interval[1:-1].split(",")
        return low.strip(), high.strip()

    @property
    def name(self) -> str:
        low, high = self.ends
        if high != "inf":
            name = f"a number in {self.interval}"
        else:
            name = "a number" + ("" if low == "-inf" else f" {'>=' if self.interval[0] == '[' else '>'} {low}")
        return f"{name} or null" if self.optional else name

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"must be {self.name}, got {value!r}")
        low, high = (float(end) for end in self.ends)
        above = low <= value if self.interval[0] == "[" else low < value
        below = value <= high if self.interval[-1] == "]" else value < high
        if not (above and below):
            raise ValueError(f"must be {self.name}, got {value!r}")
        return value


@dataclass(frozen=True)
class Integer:
    """A whole number at least `minimum` (never a float or a bool); optional: null is allowed too."""

    minimum: int
    optional: bool = False

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            raise ValueError(f"must be an integer >= {self.minimum}{' or null' if self.optional else ''}, "
                             f"got {value!r}")
        return value


@dataclass(frozen=True)
class Integers:
    """A non-empty list of whole numbers, each at least `minimum` (ResNet1D's blocks per stage)."""

    minimum: int

    def check(self, value: Any) -> Any:
        if not isinstance(value, list) or not value or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= self.minimum for n in value):
            raise ValueError(f"must be a non-empty list of integers >= {self.minimum}, got {value!r}")
        return value


@dataclass(frozen=True)
class Choice:
    """One of fixed values, matched with their YAML type (Lightning takes 32 and '32', never 32.0)."""

    values: tuple
    what: str

    def check(self, value: Any) -> Any:
        if any(type(value) is type(choice) and value == choice for choice in self.values):
            return value
        hint = did_you_mean(value, [c for c in self.values if isinstance(c, str)]) if isinstance(value, str) else ""
        raise ValueError(f"must be {self.what} ({', '.join(map(repr, self.values))}), got {value!r}{hint}")


class Setting(NamedTuple):
    """One train.yaml value: its default and the kind of value it takes."""

    default: Any
    kind: Number | Integer | Integers | Choice


POSITIVE = Number("(0, inf)")
PROBABILITY = Number("[0, 1]")
COUNT = Integer(1)
FLAG = Choice((True, False), "true or false")
# `auto` (aframe-train: bf16 autocast on a CUDA GPU that computes in bf16, else 32-true), then every `precision`
# lightning.pytorch.Trainer accepts (lightning.fabric's _PRECISION_INPUT).
PRECISIONS = ("auto", 64, 32, 16, "64", "32", "16", "bf16", "64-true", "32-true", "16-true", "16-mixed", "bf16-true",
              "bf16-mixed", "transformer-engine", "transformer-engine-float16")

# The shape of train.yaml with aframe's science defaults (DESIGN §6); a key outside it is an error.
SCHEMA: dict[str, dict[str, Any]] = {
    "model": {
        "architecture": Setting("resnet1d", Choice(("resnet1d",), "an architecture aframe-train builds")),
        "layers": Setting([3, 4, 6, 3], Integers(1)),
        "norm_groups": Setting(16, Integer(1, optional=True)),
        "kernel_size": Setting(3, COUNT),
    },
    "optimizer": {
        "learning_rate": Setting(5.85e-4, POSITIVE),
        "weight_decay": Setting(0.0, Number("[0, inf)")),
        "pct_lr_ramp": Setting(0.115, Number("[0, 1]")),  # OneCycleLR's pct_start
    },
    "data": {
        "batch_size": Setting(384, COUNT),
        "batches_per_epoch": Setting(200, COUNT),
        "psd_length": Setting(8.0, POSITIVE),
        "fftlength": Setting(None, Number("(0, inf)", optional=True)),
        "waveform_prob": Setting(0.277, PROBABILITY),
        "swap_prob": Setting(0.014, PROBABILITY),
        "mute_prob": Setting(0.055, PROBABILITY),
        "invert_prob": Setting(0.5, PROBABILITY),
        "reverse_prob": Setting(0.5, PROBABILITY),
        # A power law in SNR from minimum to maximum; with initial_minimum, its floor starts there and falls linearly
        # to minimum over decay_steps training steps (aframe's SnrSampler curriculum).
        "snr": {"minimum": Setting(4.0, POSITIVE), "maximum": Setting(100.0, POSITIVE),
                "index": Setting(-3.0, Number()), "initial_minimum": Setting(None, Number("(0, inf)", optional=True)),
                "decay_steps": Setting(0, Integer(0))},
        "max_waveform_memory_gb": Setting(4.0, POSITIVE),
    },
    "validation": {
        "fraction": Setting(0.25, Number("(0, 1)")),
        "stride": Setting(0.5, POSITIVE),
        "num_views": Setting(5, COUNT),
        "livetime": Setting(57600.0, POSITIVE),
        "max_fpr": Setting(1.0e-3, Number("(0, 1]")),
        "pool_length": Setting(8.0, POSITIVE),
        "batch_size": Setting(256, COUNT),
    },
    "trainer": {
        "max_epochs": Setting(200, COUNT),
        "patience": Setting(50, Integer(0)),
        "precision": Setting("auto", Choice(PRECISIONS, "auto or a precision Lightning accepts")),
        "tf32": Setting(True, FLAG),  # fp32 matmuls and convolutions on CUDA in TF32 (Ampere and later)
        "compile": Setting(False, FLAG),  # torch.compile the network for training
        "log_every_n_steps": Setting(20, COUNT),
    },
}


def _leaves(schema: dict[str, Any]) -> dict[str, Setting]:
    """Every Setting of `schema` by its dotted key."""
    leaves = {}
    for key, entry in schema.items():
        if isinstance(entry, dict):
            leaves.update({f"{key}.{name}": leaf for name, leaf in _leaves(entry).items()})
        else:
            leaves[key] = entry
    return leaves


SETTINGS: dict[str, Setting] = _leaves(SCHEMA)


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`'s shape filled with each setting's default: what aframe-train uses for a key train.yaml leaves out."""
    return {key: _defaults(entry) if isinstance(entry, dict) else entry.default for key, entry in schema.items()}


DEFAULTS: dict[str, Any] = _defaults(SCHEMA)


def read_tree(path: Path | str) -> dict[str, Any]:
    """train.yaml's mapping as written (an empty file is {}); an unreadable file's OSError is the caller's."""
    try:
        tree = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise TrainYamlError(None, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TrainYamlError(None, f"{where}not valid YAML ({problem})") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise TrainYamlError(None, f"must be a YAML mapping ({', '.join(SCHEMA)}), got {type(tree).__name__}")
    return tree


def _merge(schema: dict[str, Any], given: Any, where: str) -> dict[str, Any]:
    """`schema`'s defaults overlaid with `given` (the section at dotted prefix `where`), each value checked."""
    if not isinstance(given, dict):
        raise TrainYamlError(where.rstrip("."), f"must be a mapping of {', '.join(schema)}, got {given!r}")
    for key in given:
        if key in SHARED:
            section, name = SHARED[key]
            raise TrainYamlError(f"{where}{key}",
                                 f"'{key}' is set once in run.ini ([{section}] {name}); remove it here")
        if key not in schema:
            hint = did_you_mean(str(key), schema) or f"; expected one of {', '.join(schema)}"
            raise TrainYamlError(f"{where}{key}", f"unknown key{hint}")
    merged = {}
    for key, entry in schema.items():
        if isinstance(entry, dict):
            section = given.get(key)
            merged[key] = _merge(entry, {} if section is None else section, f"{where}{key}.")
        elif key in given:
            try:
                merged[key] = entry.kind.check(given[key])
            except ValueError as exc:
                raise TrainYamlError(f"{where}{key}", str(exc)) from None
        else:
            merged[key] = copy.deepcopy(entry.default)
    return merged


def _check_together(config: dict[str, Any]) -> None:
    """What no single setting's kind says: values that must agree, and what ResNet1D needs of its shape."""
    model, data = config["model"], config["data"]
    snr = data["snr"]
    if not snr["minimum"] < snr["maximum"]:
        raise TrainYamlError("data.snr", f"needs minimum < maximum, got {snr['minimum']} and {snr['maximum']}")
    if snr["initial_minimum"] is not None:
        if not snr["minimum"] <= snr["initial_minimum"] < snr["maximum"]:
            raise TrainYamlError("data.snr.initial_minimum", f"must lie in [minimum, maximum) = [{snr['minimum']}, "
                                                             f"{snr['maximum']}), got {snr['initial_minimum']}")
        if snr["decay_steps"] < 1:
            raise TrainYamlError("data.snr.decay_steps", "must be at least 1 when data.snr.initial_minimum is set")
    if data["fftlength"] is not None and data["fftlength"] > data["psd_length"]:
        raise TrainYamlError("data.fftlength", f"must be at most data.psd_length ({data['psd_length']}), "
                                               f"got {data['fftlength']}")
    if model["kernel_size"] % 2 == 0:
        raise TrainYamlError("model.kernel_size", f"must be odd (ResNet1D's convolutions), got {model['kernel_size']}")
    groups = model["norm_groups"]
    if groups is not None and groups & (groups - 1):
        raise TrainYamlError("model.norm_groups", f"must be a power of two (it divides ResNet1D's channel counts), "
                                                  f"got {groups}")


def resolve(tree: dict[str, Any]) -> dict[str, Any]:
    """train.yaml's tree checked (no shared or unknown key, every value of its kind, in range) with the defaults."""
    config = _merge(SCHEMA, tree, "")
    _check_together(config)
    return config


def check_setting(dotted: str) -> None:
    """Refuse a dotted key (a tune space's, a trial's) that is not a setting such as optimizer.learning_rate."""
    if dotted not in SETTINGS:
        raise TrainYamlError(dotted, f"is not a train.yaml setting{did_you_mean(dotted, SETTINGS)}")


def with_values(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the resolved `config` with each dotted setting in `values` set (a tune trial's), checked again."""
    config = copy.deepcopy(config)
    for dotted, value in values.items():
        check_setting(dotted)
        *parents, leaf = dotted.split(".")
        section = config
        for key in parents:
            section = section[key]
        section[leaf] = value
    return resolve(config)
