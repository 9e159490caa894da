"""The data parameters every stage shares, declared once: each program's options, the record training writes into
model.pt and inference's settings are derived from this list, so no two can spell one differently."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class DataParameters:
    """What every stage must agree on about the data: the ifos, rates (Hz) and lengths (s)."""

    ifos: tuple[str, ...]
    sample_rate: float
    highpass: float
    lowpass: float | None
    fduration: float
    kernel_length: float
    inference_sampling_rate: float

    @property
    def kernel_size(self) -> int:
        return round(self.kernel_length * self.sample_rate)


#: Their names, as run.ini, train.yaml's schema and the record in model.pt spell them.
NAMES = tuple(field.name for field in dataclasses.fields(DataParameters))
#: What each one is, for a program's --help.
HELP = {
    "ifos": "Comma-separated ifos, e.g. H1,L1.",
    "sample_rate": "Hz.",
    "highpass": "Hz.",
    "lowpass": "Hz (none: Nyquist).",
    "fduration": "Whitening filter length, seconds.",
    "kernel_length": "Seconds per window the network sees.",
    "inference_sampling_rate": "Rate at which the network is evaluated, Hz.",
}


def data_option(name: str, *, positive: bool = False, **attrs: Any) -> Decorator:
    """The command-line option of parameter ``name``: ``--kebab-case``, a float (click refuses one <= 0 when
    ``positive``; ``--ifos`` is text); ``attrs`` (required, default, help, another type) go to ``click.option``."""
    if name not in NAMES:
        raise ValueError(f"{name!r} is not a shared data parameter ({', '.join(NAMES)})")
    if name != "ifos":
        attrs.setdefault("type", click.FloatRange(min=0, min_open=True) if positive else float)
    attrs.setdefault("help", HELP[name])
    return click.option("--" + name.replace("_", "-"), **attrs)


def data_options(*, passed_on: bool = False) -> Decorator:
    """Every parameter's option in order, each required but ``--lowpass``: for the programs that take them all;
    ``passed_on`` keeps the values as given (text) for a program that hands them to another."""
    options = [data_option(name, required=name != "lowpass", **({"type": str} if passed_on else {}))
               for name in NAMES]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate
