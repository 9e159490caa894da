"""`aframe-dag init --from-aframe CFG`: an aframe law .cfg (and its train.yaml) mapped onto run.ini and train.yaml.

aframe's pipeline configs (``aframe/pipelines/sandbox/configs/*.cfg`` in ML4GW/aframe) are law/luigi INI files: a
``[luigi_base]`` section of shared parameters, one ``[luigi_<Task>]`` section per task whose keys either hold a value
or refer to another key (``&::luigi_base::sample_rate``, ``&::ifos`` for the same section), ``[core] inherit`` naming a
parent file, and lists written as JSON (``["H1", "L1"]``). Its training config is a LightningCLI YAML
(``projects/train/configs/bbh.yaml``). Keys that refer to another key are covered by that key; every other key is
mapped onto our schema or reported, one line each, with the reason.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from pathlib import Path

from ..errors import ConfigError, UserError
from .lightning_yaml import map_train_yaml
from .translation import PER_NODE, REASONS, TRITON, Translation, assign, channels, pairs_text, prior_name

REFERENCE = re.compile(r"&::(?:([^:\s]+)::)?([^:\s]+)")
RESOURCES = ("request_memory", "request_disk", "request_cpus")

# (aframe section, key) -> (our section, key, how the value is converted); resources are added per task below.
KEYS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("luigi_base", "ifos"): ("data", "ifos", "list"),
    ("luigi_base", "train_start"): ("data", "train_start", "text"),
    ("luigi_base", "train_stop"): ("data", "train_stop", "text"),
    ("luigi_base", "test_stop"): ("data", "test_stop", "text"),
    ("luigi_base", "max_duration"): ("data", "max_segment_length", "text"),
    ("luigi_base", "Tb"): ("testing", "Tb", "text"),
    ("luigi_base", "flag"): ("data", "flag", "text"),
    ("luigi_base", "channels"): ("data", "channels", "channels"),
    ("luigi_base", "shifts"): ("testing", "shifts", "list"),
    ("luigi_base", "seed"): ("run", "seed", "text"),
    ("luigi_base", "waveform_approximant"): ("waveforms", "approximant", "text"),
    ("luigi_base", "waveform_duration"): ("waveforms", "duration", "text"),
    ("luigi_base", "minimum_frequency"): ("waveforms", "minimum_frequency", "text"),
    ("luigi_base", "reference_frequency"): ("waveforms", "reference_frequency", "text"),
    ("luigi_base", "right_pad"): ("waveforms", "right_pad", "text"),
    ("luigi_base", "kernel_length"): ("data", "kernel_length", "text"),
    ("luigi_base", "prior"): ("waveforms", "prior", "prior"),
    ("luigi_base", "fftlength"): ("train.yaml", "data.fftlength", "number-or-null"),
    ("luigi_base", "sample_rate"): ("data", "sample_rate", "text"),
    ("luigi_base", "fduration"): ("data", "fduration", "text"),
    ("luigi_base", "highpass"): ("data", "highpass", "text"),
    ("luigi_base", "lowpass"): ("data", "lowpass", "text"),
    ("luigi_base", "inference_psd_length"): ("infer", "psd_length", "text"),
    ("luigi_base", "inference_sampling_rate"): ("infer", "sampling_rate", "text"),
    ("luigi_base", "inference_batch_size"): ("infer", "batch_size", "text"),
    ("luigi_FetchTrain", "min_duration"): ("data", "min_train_segment_length", "text"),
    ("luigi_FetchTest", "min_duration"): ("data", "min_test_segment_length", "text"),
    ("luigi_TrainingWaveforms", "num_signals"): ("waveforms", "num_train", "text"),
    ("luigi_ValidationWaveforms", "num_signals"): ("waveforms", "num_val", "text"),
    ("luigi_ValidationWaveforms", "snr_threshold"): ("waveforms", "snr_threshold", "text"),
    ("luigi_TestingWaveforms", "num_signals"): ("testing", "num_injections", "text"),
    ("luigi_TestingWaveforms", "spacing"): ("testing", "spacing", "text"),
    ("luigi_TestingWaveforms", "buffer"): ("testing", "buffer", "text"),
    ("luigi_TestingWaveforms", "snr_threshold"): ("testing", "snr_threshold", "text"),
    ("luigi_TestingWaveforms", "prior"): ("testing", "prior", "prior"),
    ("luigi_SandboxInfer", "cluster_window_length"): ("infer", "cluster_length", "text"),
    ("luigi_SandboxInfer", "integration_window_length"): ("infer", "integration_length", "text"),
    ("luigi_SandboxInfer", "model_name"): ("export", "model_name", "text"),
    ("luigi_SandboxSV", "mass_combos"): ("sv", "mass_combos", "pairs"),
    ("luigi_SandboxSV", "source_prior"): ("sv", "source_prior", "prior"),
}
STAGE_OF_TASK = {"luigi_FetchTrain": "background", "luigi_FetchTest": "background",
                 "luigi_TrainingWaveforms": "waveforms", "luigi_ValidationWaveforms": "waveforms-val",
                 "luigi_TestingWaveforms": "injections", "luigi_SandboxInfer": "infer"}
for _task, _stage in STAGE_OF_TASK.items():
    KEYS.update({(_task, key): (f"stage:{_stage}", key, "text") for key in RESOURCES})

LAW_REASONS = {
    **REASONS,
    "workflow": "aframe-dag always runs tasks as DAGMan nodes",
    "aframe_instances": TRITON, "preproc_instances": TRITON, "sequence_id": TRITON,
    "clean": "export never deletes: `aframe-dag clean` removes what is no longer needed",
    "num_jobs": PER_NODE,
    "batch_size": "the training batch size is train.yaml's data.batch_size (see --train-yaml)",
    "use_wandb": "aframe-train logs to metrics.csv; no Weights & Biases",
}
SECRETS = {"aws_access_key_id", "aws_secret_access_key", "api_key"}


# -- reading aframe's law config ------------------------------------------------------------------------------------


def _parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None, strict=True)
    parser.optionxform = str
    try:
        parser.read_string(path.read_text(), source=str(path))
    except OSError as exc:
        raise UserError(f"--from-aframe {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    except configparser.Error as exc:
        raise UserError(f"{path}: not an aframe (law) config: {str(exc).splitlines()[0]}") from None
    return parser


def read_law_config(path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], Path]]:
    """Sections of a law config with its `[core] inherit` parents under it, and the file each key came from."""
    path = Path(path).expanduser().absolute()
    if path in seen:
        raise UserError(f"{seen[-1]}: [core] inherit: {path} inherits itself")
    parser = _parse(path)
    sections: dict[str, dict[str, str]] = {}
    origin: dict[tuple[str, str], Path] = {}
    inherit = parser.get("core", "inherit", fallback="")
    for parent in filter(None, (item.strip() for item in inherit.split(","))):
        missing = [name for name in re.findall(r"\$\{?(\w+)", parent) if name not in os.environ]
        if missing:
            raise ConfigError(f"{parent}: environment variable {missing[0]} is not set", path, "core", "inherit")
        parent_path = Path(os.path.expandvars(os.path.expanduser(parent)))
        parent_path = parent_path if parent_path.is_absolute() else path.parent / parent_path
        if not parent_path.is_file():
            raise ConfigError(f"{parent_path} does not exist", path, "core", "inherit")
        inherited, inherited_origin = read_law_config(parent_path, (*seen, path))
        for section, values in inherited.items():
            sections.setdefault(section, {}).update(values)
        origin.update(inherited_origin)
    for section in parser.sections():
        for key, value in parser[section].items():
            if (section, key) != ("core", "inherit"):
                sections.setdefault(section, {})[key] = value.strip()
                origin[section, key] = path
    return sections, origin


def _resolve(sections, section: str, key: str, where, chain=()) -> str:
    value = sections[section][key]
    match = REFERENCE.fullmatch(value)
    if not match:
        return value
    target = (match.group(1) or section, match.group(2))
    if target in chain or target == (section, key):
        raise ConfigError(f"'{value}' refers back to itself", where, section, key)
    if target[1] not in sections.get(target[0], {}):
        raise ConfigError(f"'{value}' refers to a key that does not exist", where, section, key)
    return _resolve(sections, *target, where, (*chain, (section, key)))


# -- values ---------------------------------------------------------------------------------------------------------


def _json(value: str, where, section: str, key: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"'{value}' is not a JSON list ({exc.msg})", where, section, key) from None


def _convert(how: str, value: str, where, section: str, key: str):
    """aframe's text for a key -> our text (or, for train.yaml, a YAML value)."""
    if how == "list":
        items = _json(value, where, section, key)
        if not isinstance(items, list):
            raise ConfigError(f"'{value}' is not a list", where, section, key)
        return ", ".join(str(item) for item in items)
    if how == "pairs":
        return pairs_text(_json(value, where, section, key), value, f"{where}: [{section}] {key}")
    if how == "prior":
        return prior_name(value)
    if how == "number-or-null":
        try:
            return float(value) if value else None
        except ValueError:
            raise ConfigError(f"'{value}' is not a number", where, section, key) from None
    return value


# -- the mapping ----------------------------------------------------------------------------------------------------


def _map_key(translation: Translation, sections, section: str, key: str, where: Path) -> None:
    raw = sections[section][key]
    label = f"{where}: [{section}] {key}"
    if (section, key) not in KEYS and REFERENCE.fullmatch(raw):
        _resolve(sections, section, key, where)  # covered by the key it refers to, which must exist
        return
    if key in SECRETS:
        translation.unmapped.append(f"{label}: a credential, never copied (give [s3] credentials_file instead)")
        return
    if (section, key) not in KEYS:
        translation.unmapped.append(f"{label} = {raw}: {LAW_REASONS.get(key, 'no equivalent in aframe-dag')}")
        return
    target_section, target_key, how = KEYS[section, key]
    text = _resolve(sections, section, key, where)
    if how == "channels":
        channels(translation, _convert("list", text, where, section, key).split(", "), label)
    elif target_section == "train.yaml":
        translation.train[target_key] = _convert(how, text, where, section, key)
    else:
        assign(translation, (target_section, target_key), _convert(how, text, where, section, key), label, raw, "task")


def translate(cfg, train_yaml=None) -> Translation:
    """Map an aframe .cfg (and optionally its train.yaml) onto our keys; nothing is written here."""
    sections, origin = read_law_config(cfg)
    translation = Translation(Path(cfg).expanduser().absolute())
    for section, values in sections.items():
        for key in values:
            _map_key(translation, sections, section, key, origin[section, key])
    if train_yaml is not None:
        map_train_yaml(translation, Path(train_yaml).expanduser().absolute())
    return translation
