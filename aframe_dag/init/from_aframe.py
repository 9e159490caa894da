"""`aframe-dag init --from-aframe`: an aframe law .cfg (and its train.yaml) mapped onto run.ini and train.yaml.

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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config.schema import SECTIONS, SHARED, STAGES, stage_keys
from ..config.types import BadValue
from ..errors import ConfigError, UserError

REFERENCE = re.compile(r"&::(?:([^:\s]+)::)?([^:\s]+)")
OPEN_DATA = {"H1", "L1", "V1", "K1"}
RESOURCES = ("request_memory", "request_disk", "request_cpus")
TRITON = "aframe-dag serves one model per infer node (Triton or onnxruntime); set [stage:infer] resources instead"

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

REASONS = {
    "workflow": "aframe-dag always runs tasks as DAGMan nodes",
    "streams_per_gpu": TRITON, "aframe_instances": TRITON, "preproc_instances": TRITON, "rate_per_gpu": TRITON,
    "sequence_id": TRITON, "model_version": "the exported model is always version 1",
    "clean": "export never deletes: `aframe-dag clean` removes what is no longer needed",
    "triton_image": "aframe's hermes Triton image; give [infer] triton_image an Apptainer image with tritonserver",
    "zero_lag": "zero-lag events are always computed; [sv] unblind decides whether the report shows them",
    "num_jobs": "[waveforms] per_node sets the shard size of training and validation waveforms alike",
    "batch_size": "the training batch size is train.yaml's data.batch_size (see --train-yaml)",
    "use_wandb": "aframe-train logs to metrics.csv; no Weights & Biases",
}
SECRETS = {"aws_access_key_id", "aws_secret_access_key", "api_key"}


@dataclass
class Translation:
    """What an aframe config becomes: run.ini values, train.yaml values, and the keys left behind (one line each)."""

    source: Path
    run_ini: dict[tuple[str, str], str] = field(default_factory=dict)
    train: dict[str, object] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    train_source: Path | None = None


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
        pairs = _json(value, where, section, key)
        if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
            raise ConfigError(f"'{value}' is not a list of [m1, m2] pairs", where, section, key)
        return ", ".join(f"{a}:{b}" for a, b in pairs)
    if how == "prior":
        return value.rpartition(".")[2]
    if how == "number-or-null":
        try:
            return float(value) if value else None
        except ValueError:
            raise ConfigError(f"'{value}' is not a number", where, section, key) from None
    return value


def _schema_type(section: str, key: str):
    if section.startswith("stage:"):
        return stage_keys(STAGES[section.partition(":")[2]])[key].type
    return SECTIONS[section][key].type


def _check(target: tuple[str, str], text: str, where, section: str, key: str) -> None:
    try:
        _schema_type(*target).parse(text)
    except BadValue as exc:
        raise ConfigError(f"'{text}' does not fit [{target[0]}] {target[1]}: {exc}", where, section, key) from None


# -- the mapping ----------------------------------------------------------------------------------------------------


def _channels(translation: Translation, text: str, where, section: str, key: str) -> None:
    """Channels that are bare ifo names mean GWOSC open data in aframe; others are frame channels."""
    items = _convert("list", text, where, section, key).split(", ")
    if set(items) <= OPEN_DATA:
        translation.run_ini["data", "source"] = "gwosc"
    else:
        _check(("data", "channels"), ", ".join(items), where, section, key)
        translation.run_ini["data", "source"] = "frames"
        translation.run_ini["data", "channels"] = ", ".join(items)
        translation.unmapped.append(f"{where}: [{section}] {key}: set [data] frame_type for these channels "
                                    "(aframe found frames through NDS2)")


def _map_key(translation: Translation, sections, section: str, key: str, where: Path) -> None:
    raw = sections[section][key]
    if (section, key) not in KEYS and REFERENCE.fullmatch(raw):
        _resolve(sections, section, key, where)  # covered by the key it refers to, which must exist
        return
    if key in SECRETS:
        translation.unmapped.append(f"{where}: [{section}] {key}: a credential, never copied (give [s3] "
                                    "credentials_file instead)")
        return
    if (section, key) not in KEYS:
        reason = REASONS.get(key, "no equivalent in aframe-dag")
        translation.unmapped.append(f"{where}: [{section}] {key} = {raw}: {reason}")
        return
    target_section, target_key, how = KEYS[section, key]
    text = _resolve(sections, section, key, where)
    if how == "channels":
        _channels(translation, text, where, section, key)
        return
    value = _convert(how, text, where, section, key)
    if target_section == "train.yaml":
        translation.train[target_key] = value
        return
    _check((target_section, target_key), value, where, section, key)
    previous = translation.run_ini.get((target_section, target_key))
    if previous is not None and previous != value:
        translation.unmapped.append(f"{where}: [{section}] {key} = {raw}: [{target_section}] {target_key} is "
                                    f"already {previous} from another task (aframe-dag has one stage for both)")
        return
    translation.run_ini[target_section, target_key] = value


def translate(cfg, train_yaml=None) -> Translation:
    """Map an aframe .cfg (and optionally its train.yaml) onto our keys; nothing is written here."""
    sections, origin = read_law_config(cfg)
    translation = Translation(Path(cfg).expanduser().absolute())
    for section, values in sections.items():
        for key in values:
            _map_key(translation, sections, section, key, origin[section, key])
    if train_yaml is not None:
        translation.train_source = Path(train_yaml).expanduser().absolute()
        _map_train_yaml(translation, translation.train_source)
    return translation


# -- aframe's LightningCLI train.yaml -------------------------------------------------------------------------------

ARCHITECTURE = "architectures.supervised.SupervisedTimeDomainResNet"
TRAIN_KEYS = {
    "model.init_args.arch.init_args.layers": "model.layers",
    "model.init_args.arch.init_args.kernel_size": "model.kernel_size",
    "model.init_args.arch.init_args.norm_layer.init_args.groups": "model.norm_groups",
    "model.init_args.metric.init_args.max_fpr": "validation.max_fpr",
    "model.init_args.metric.init_args.pool_length": "validation.pool_length",
    "model.init_args.learning_rate": "optimizer.learning_rate",
    "model.init_args.weight_decay": "optimizer.weight_decay",
    "model.init_args.pct_lr_ramp": "optimizer.pct_lr_ramp",
    "data.init_args.batch_size": "data.batch_size",
    "data.init_args.batches_per_epoch": "data.batches_per_epoch",
    "data.init_args.psd_length": "data.psd_length",
    "data.init_args.fftlength": "data.fftlength",
    "data.init_args.waveform_prob": "data.waveform_prob",
    "data.init_args.swap_prob": "data.swap_prob",
    "data.init_args.mute_prob": "data.mute_prob",
    "data.init_args.snr_sampler.init_args.minimum": "data.snr.minimum",
    "data.init_args.snr_sampler.init_args.maximum": "data.snr.maximum",
    "data.init_args.snr_sampler.init_args.index": "data.snr.index",
    "data.init_args.valid_stride": "validation.stride",
    "data.init_args.num_valid_views": "validation.num_views",
    "data.init_args.valid_livetime": "validation.livetime",
    "trainer.max_epochs": "trainer.max_epochs",
    "trainer.log_every_n_steps": "trainer.log_every_n_steps",
    "trainer.precision": "trainer.precision",
}
# Classes whose settings are what aframe-train builds in: naming them maps nothing and loses nothing.
BUILT_IN = {
    "model.class_path": "train.model.SupervisedAframe",
    "model.init_args.arch.class_path": ARCHITECTURE,
    "model.init_args.arch.init_args.norm_layer.class_path": "ml4gw.nn.norm.GroupNorm1DGetter",
    "model.init_args.metric.class_path": "train.metrics.TimeSlideAUROC",
    "data.init_args.snr_sampler.class_path": "ml4gw.distributions.PowerLaw",
    "data.class_path": "train.data.supervised.TimeDomainSupervisedAframeDataset",
    # aframe-train validates every epoch, keeps best.ckpt by valid_auroc, writes batch.hdf5 and metrics.csv
    "trainer.check_val_every_n_epoch": 1,
    r"trainer.callbacks.\d+.class_path": ("lightning.pytorch.callbacks.EarlyStopping",
                                          "train.callbacks.ModelCheckpoint", "train.callbacks.SaveAugmentedBatch"),
    r"trainer.callbacks.\d+.init_args.monitor": "valid_auroc",
    r"trainer.callbacks.\d+.init_args.mode": "max",
    r"trainer.logger.\d+.class_path": "lightning.pytorch.loggers.CSVLogger",
}


def _built_in(dotted: str, value) -> bool:
    """Does this setting only name what aframe-train does anyway?"""
    for pattern, expected in BUILT_IN.items():
        if re.fullmatch(pattern, dotted):
            return value in expected if isinstance(expected, tuple) else value == expected
    return False


def _leaves(tree, prefix=""):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif isinstance(tree, list) and tree and all(isinstance(item, dict) for item in tree):
        for index, value in enumerate(tree):
            yield from _leaves(value, f"{prefix}{index}.")
    else:
        yield prefix[:-1], tree


def _early_stopping(tree) -> tuple[int | None, object]:
    callbacks = (tree.get("trainer") or {}).get("callbacks") or []
    for index, callback in enumerate(callbacks):
        if isinstance(callback, dict) and str(callback.get("class_path", "")).endswith("EarlyStopping"):
            return index, (callback.get("init_args") or {}).get("patience")
    return None, None


def _map_train_yaml(translation: Translation, path: Path) -> None:
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"--train-yaml {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise UserError(f"{path}: {where}not valid YAML") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: not an aframe train config (expected a mapping with model:, data:, trainer:)")
    stopping, patience = _early_stopping(tree)
    epochs = (tree.get("trainer") or {}).get("max_epochs") if isinstance(tree.get("trainer"), dict) else None
    if patience is not None or epochs is not None:
        # without EarlyStopping, or with patience null, aframe trains every epoch: patience = max_epochs does that
        translation.train["trainer.patience"] = patience if patience is not None else epochs
    for dotted, value in _leaves(tree):
        if dotted in TRAIN_KEYS:
            translation.train[TRAIN_KEYS[dotted]] = value
        elif _built_in(dotted, value):
            continue
        elif stopping is not None and dotted == f"trainer.callbacks.{stopping}.init_args.patience":
            continue
        elif dotted.rpartition(".")[2] in SHARED:
            section, key = SHARED[dotted.rpartition(".")[2]]
            translation.unmapped.append(f"{path}: {dotted}: set once in run.ini ([{section}] {key})")
        else:
            translation.unmapped.append(f"{path}: {dotted} = {json.dumps(value, default=str)}: no equivalent in "
                                        "aframe-dag's train.yaml")


def apply_train(tree: dict, values: dict[str, object]) -> dict:
    """The shipped train.yaml tree with mapped dotted values set."""
    for dotted, value in values.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
