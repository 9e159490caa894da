"""What a network was trained for, recorded inside its model.pt, so that export refuses a mismatched reuse.

The ResNet's adaptive pooling takes windows of any length and its first layer any batch, so a model trained on
other data settings (`[train] model = PATH` from another run) would export and run without an error and analyse
the data wrongly. Training writes the data settings into TorchScript's extra files; export compares the ones it
is given.
"""

from __future__ import annotations

import json
from typing import Any

from executables.common.shared import NAMES

#: The name of the record among model.pt's TorchScript extra files.
EXTRA_FILE = "aframe_trained_for.json"
#: The settings a record holds, the shared data parameters: what decides a network's input and what it means.
RECORDED = NAMES


def extra_files(shared: dict[str, Any]) -> dict[str, str]:
    """The `_extra_files` argument of torch.jit.save: the record of these shared data settings."""
    return {EXTRA_FILE: json.dumps({key: shared[key] for key in RECORDED}, sort_keys=True)}


def read_record(text: str) -> dict[str, Any] | None:
    """The record from the extra file's text, None when the file was not there (a model trained elsewhere)."""
    return json.loads(text) if text else None


def _comparable(value: Any) -> Any:
    """Numbers as floats (a record's 2048 is --sample-rate 2048.0), sequences as lists (JSON has no tuples)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def differences(record: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """`key: trained for A, given B` for each given setting the record disagrees with."""
    return [f"{key}: trained for {record.get(key)}, given {value}" for key, value in given.items()
            if _comparable(record.get(key)) != _comparable(value)]
