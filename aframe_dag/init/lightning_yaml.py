"""aframe's LightningCLI training YAML (``projects/train/train.yaml`` in ML4GW/aframe) mapped onto our train.yaml.

Both aframe importers read it: the law .cfg one with `--train-yaml`, the Snakemake one with `--train-yaml` or the file
its `train_config` names. Settings that only name what aframe-train does anyway are dropped silently; every other
setting is mapped or reported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..config.schema import SHARED
from ..errors import UserError
from .translation import Translation, read_yaml

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
    # aframe's SnrSampler (an SNR curriculum) in place of the PowerLaw
    "data.init_args.snr_sampler.init_args.max_min_snr": "data.snr.initial_minimum",
    "data.init_args.snr_sampler.init_args.min_min_snr": "data.snr.minimum",
    "data.init_args.snr_sampler.init_args.max_snr": "data.snr.maximum",
    "data.init_args.snr_sampler.init_args.alpha": "data.snr.index",
    "data.init_args.snr_sampler.init_args.decay_steps": "data.snr.decay_steps",
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
    "data.init_args.snr_sampler.class_path": ("ml4gw.distributions.PowerLaw", "train.augmentations.SnrSampler"),
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


def map_train_yaml(translation: Translation, path: Path, option: str = "--train-yaml") -> None:
    """Add the settings of aframe's train YAML at `path` (given by `option`) to the translation."""
    translation.train_source = path
    tree = read_yaml(path, option)
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
