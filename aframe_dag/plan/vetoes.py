"""``[testing] vetoes`` for the plan: which files, read at build time so that Tb counts live time only."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..sandbox import input_name
from ..vetoes import Vetoes, VetoFileError


def veto_files(config) -> list[tuple[str, str]]:
    """``[testing] vetoes`` as (ifo, absolute path) pairs; a relative path is taken from run.ini's directory."""
    base = Path(config.path).parent
    return [(ifo, str((base / os.path.expanduser(path)).resolve()))
            for ifo, _, path in (item.partition(":") for item in config["testing"]["vetoes"])]


def read_vetoes(config) -> Vetoes | None:
    """Every ifo's vetoed times (None when the run has none); a missing or malformed file is a ConfigError."""
    files = veto_files(config)
    if not files:
        return None
    names = [input_name(path) for _, path in files]
    clash = next((name for name in names if names.count(name) > 1), None)
    if clash and config["condor"]["filesystem"] == "transfer":
        raise ConfigError(f"two files are named {clash}: a job's sandbox holds its inputs by base name, so give "
                          "each veto file its own name", config.path, "testing", "vetoes")
    try:
        return Vetoes.read(config["data"]["ifos"], files)
    except VetoFileError as exc:
        raise ConfigError(str(exc), config.path, "testing", "vetoes") from None
