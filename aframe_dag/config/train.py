"""train.yaml read beside run.ini and checked as aframe-train will check it, so a typo fails at build, not at train."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import ConfigError
from .train_schema import TrainYamlError, check_setting, read_tree, resolve, with_values


def _tuned_values(kind: str, args: tuple[str, ...]) -> list:
    """The values a trial may set, read as aframe-tune-trial reads them: every choice, a range's two ends."""
    if kind == "choice":
        return [yaml.safe_load(arg) for arg in args]
    return [(int if kind == "int" else float)(arg) for arg in args]


def _check_space(config, resolved: dict) -> None:
    """Each tuned key must be a train.yaml setting, and each value a trial may give it must pass its checks."""
    for dotted, kind, args in config["tune"]["space"]:
        try:
            check_setting(dotted)
            values = _tuned_values(kind, args)
        except TrainYamlError as exc:
            raise ConfigError(f"tunes '{dotted}', which {exc.message}", config.path, "tune", "space") from None
        except (ValueError, yaml.YAMLError):
            need = "whole numbers" if kind == "int" else "YAML values"
            raise ConfigError(f"tunes '{dotted}' with {kind}({', '.join(args)}): its values must be {need}",
                              config.path, "tune", "space") from None
        for value in values:
            try:
                with_values(resolved, {dotted: value})
            except TrainYamlError as exc:
                raise ConfigError(f"tunes '{dotted}' to {value!r}, but {exc}", config.path, "tune", "space") from None


def load_train_config(config) -> dict:
    """Read [train] config and check it (train_schema); returns the tree as written, whose digest salts training."""
    path = Path(config["train"]["config"])
    try:
        tree = read_tree(path)
        resolved = resolve(tree)
    except OSError as exc:
        raise ConfigError(f"cannot read train config {path}: {exc.strerror}", config.path, "train", "config") from None
    except TrainYamlError as exc:
        raise ConfigError(str(exc), path) from None
    if config["tune"]["enabled"]:
        _check_space(config, resolved)
    return tree
