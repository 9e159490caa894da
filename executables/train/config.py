"""``train.yaml`` for ``aframe-train``: read and checked by the schema ``build`` uses (shared parameters come from the
command line)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_dag.config.train_schema import DEFAULTS, TrainYamlError, read_tree, resolve, with_values
from executables.common.errors import InputError
from executables.common.shared import DataParameters

__all__ = ["DEFAULTS", "Shared", "read_config", "set_values"]


@dataclass(frozen=True)
class Shared(DataParameters):
    """The data parameters every stage shares and the run's seed, as training takes them from the command line."""

    seed: int


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """A schema error becomes the node's ``InputError`` (exit 2) naming the file and the dotted key."""
    try:
        yield
    except TrainYamlError as exc:
        raise InputError(path, exc.key, exc.message) from None


def read_config(path: Path) -> dict[str, Any]:
    """Read train.yaml, refuse shared or unknown keys and bad values, fill in the defaults."""
    with _naming(path):
        return resolve(read_tree(path))


def set_values(path: Path, config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with each dotted ``train.yaml`` path in ``values`` set (a tune trial's parameters), checked
    again; a path that is not a train.yaml setting is an ``InputError`` naming it."""
    with _naming(path):
        return with_values(config, values)
