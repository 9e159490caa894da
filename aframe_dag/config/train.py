"""train.yaml: the training details that run.ini does not hold, checked against it."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import ConfigError
from .schema import SHARED


def _walk(tree, prefix=""):
    """Yield (dotted path, key) for every mapping key in a YAML tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}{key}"
            yield path, key
            yield from _walk(value, f"{path}.")
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _walk(value, f"{prefix}{index}.")


def _lookup(tree, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def load_train_config(config) -> dict:
    """Read [train] config; a shared parameter repeated there or a tuned key missing from it is an error."""
    path = Path(config["train"]["config"])
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read train config {path}: {exc.strerror}", config.path, "train", "config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{where}not valid YAML ({getattr(exc, 'problem', exc)})", path) from None
    if not isinstance(tree, dict):
        raise ConfigError("must be a YAML mapping (model:, optimizer:, data:, trainer:)", path)
    for dotted, key in _walk(tree):
        if key in SHARED:
            section, name = SHARED[key]
            raise ConfigError(f"{dotted}: '{key}' is set once in run.ini ([{section}] {name}); remove it here", path)
    if config["tune"]["enabled"]:
        for dotted, _, _ in config["tune"]["space"]:
            if not _lookup(tree, dotted):
                raise ConfigError(f"tunes '{dotted}', which {path.name} does not have", config.path, "tune", "space")
    return tree
