"""What an aframe config becomes in aframe-dag, and the checks and wording that both aframe importers share.

An importer (the law .cfg one in `from_law`, the Snakemake YAML one in `from_snakemake`) fills a Translation: run.ini
values by (section, key), train.yaml values by dotted path, and one line for each aframe key it could not carry over,
which `aframe-dag init` prints as `not mapped: LINE`. Nothing is written until every key has been read, so a refused
value leaves no files behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config.schema import SECTIONS, STAGES, stage_keys
from ..config.types import BadValue
from ..errors import UserError

OPEN_DATA = {"H1", "L1", "V1", "K1"}
TRITON = "aframe-dag serves one model per infer node (Triton or onnxruntime); set [stage:infer] resources instead"
PER_NODE = "[waveforms] per_node sets the shard size of training and validation waveforms alike"
# Reasons for settings that both of aframe's pipelines name alike.
REASONS = {
    "streams_per_gpu": TRITON, "rate_per_gpu": TRITON,
    "model_version": "the exported model is always version 1",
    "zero_lag": "zero-lag events are always computed; [sv] unblind decides whether the report shows them",
    "triton_image": "aframe's hermes Triton image; give [infer] triton_image an Apptainer image with tritonserver",
}


@dataclass
class Translation:
    """What an aframe config becomes: run.ini values, train.yaml values, and the keys left behind (one line each)."""

    source: Path
    run_ini: dict[tuple[str, str], str] = field(default_factory=dict)
    train: dict[str, object] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    train_source: Path | None = None


def _schema_type(section: str, key: str):
    if section.startswith("stage:"):
        return stage_keys(STAGES[section.partition(":")[2]])[key].type
    return SECTIONS[section][key].type


def check(target: tuple[str, str], text: str, where: str) -> None:
    """Refuse, naming where the value came from, a value our schema would refuse for `target`."""
    try:
        _schema_type(*target).parse(text)
    except BadValue as exc:
        raise UserError(f"{where}: '{text}' does not fit [{target[0]}] {target[1]}: {exc}") from None


def assign(translation: Translation, target: tuple[str, str], text: str, where: str, shown: str, origin: str) -> None:
    """Set one checked run.ini value; a second, different value for the same key is reported, the first kept."""
    check(target, text, where)
    previous = translation.run_ini.get(target)
    if previous is not None and previous != text:
        translation.unmapped.append(f"{where} = {shown}: [{target[0]}] {target[1]} is already {previous} from another "
                                    f"{origin} (aframe-dag has one stage for both)")
        return
    translation.run_ini[target] = text


def channels(translation: Translation, items: list[str], where: str) -> None:
    """Channels that are bare ifo names mean GWOSC open data in aframe; others are frame channels."""
    if set(items) <= OPEN_DATA:
        translation.run_ini["data", "source"] = "gwosc"
        return
    check(("data", "channels"), ", ".join(items), where)
    translation.run_ini["data", "source"] = "frames"
    translation.run_ini["data", "channels"] = ", ".join(items)
    translation.unmapped.append(f"{where}: set [data] frame_type for these channels (aframe found frames through NDS2)")


def prior_name(path: str) -> str:
    """aframe names a prior by its Python path (priors.priors.end_o3_ratesandpops); we by its last part."""
    return path.rpartition(".")[2]


def pairs_text(pairs, shown: str, where: str) -> str:
    """[[m1, m2], ...] as our `m1:m2, ...`."""
    if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
        raise UserError(f"{where}: '{shown}' is not a list of [m1, m2] pairs")
    return ", ".join(f"{a}:{b}" for a, b in pairs)


def read_yaml(path: Path, option: str):
    """The YAML document in `path`; an unreadable file or invalid YAML is an error naming the file (and line)."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise UserError(f"{path}: {line}not valid YAML") from None
