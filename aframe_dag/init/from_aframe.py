"""`aframe-dag init --from-aframe PATH`: which of aframe's two pipeline configs PATH is, and its translation.

aframe configured its law/luigi pipeline with INI files (`from_law`) and configures its Snakemake pipeline with one
YAML mapping (`from_snakemake`). A `.yaml`/`.yml` name means the Snakemake config and `.cfg`/`.ini` the law one; any
other name is told apart by its first line that is not a comment: an INI section header, or YAML.
"""

from __future__ import annotations

from pathlib import Path

from . import from_law, from_snakemake
from .translation import Translation


def is_snakemake_config(path: Path) -> bool:
    """Is PATH aframe's Snakemake YAML rather than a law .cfg?"""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".cfg", ".ini"):
        return suffix in (".yaml", ".yml")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False  # the law reader names the problem
    first = next((line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", ";"))), "")
    return not first.startswith("[")


def translate(config, train_yaml=None) -> Translation:
    """Map an aframe config (law .cfg or Snakemake YAML, and its train YAML if given) onto our keys; writes nothing."""
    path = Path(config).expanduser().absolute()
    reader = from_snakemake if is_snakemake_config(path) else from_law
    return reader.translate(path, train_yaml)
