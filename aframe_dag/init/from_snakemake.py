"""`aframe-dag init --from-aframe config.yaml`: aframe's Snakemake pipeline config mapped onto run.ini and train.yaml.

aframe's Snakemake pipeline (ML4GW/aframe: `Snakefile`, defaults in `pipeline/config/config.yaml`, a run directory's
`config.yaml` from `aframe-init snakemake` overriding some of them) reads one flat YAML mapping: directories, `ifos` and
`channels`, the `train_*`/`test_*` spans, DQ `flags`, waveform, inference and plot settings, GPU placement, and
`resources:` (rule -> {mem_mb, runtime}). Each key is mapped onto our schema, recognised as what aframe-dag does anyway
(BUILT_IN), or reported with the reason. Keys the file does not give keep our shipped values (aframe's science
defaults). The train YAML (`--train-yaml`, else an absolute `train_config`) is read first, since aframe's command line
overrides it with the shared keys (fftlength).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config.schema import DATA
from ..errors import UserError
from .lightning_yaml import map_train_yaml
from .translation import OPEN_DATA, PER_NODE, REASONS, Translation, assign, channels, pairs_text, prior_name, read_yaml


class Unmappable(Exception):
    """This value has no aframe-dag equivalent; the message says why, and what to set instead."""


def _shown(value) -> str:
    return json.dumps(value, default=str)


def _scalar(value, where: str) -> str:
    """One YAML value as INI text: null empty, booleans true/false, whole floats (2048.0) as integers."""
    if isinstance(value, (list, dict)):
        raise UserError(f"{where}: expected one value, got {_shown(value)}")
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list(value, where: str) -> str:
    if not isinstance(value, list):
        raise UserError(f"{where}: expected a list, got {_shown(value)}")
    return ", ".join(_scalar(item, where) for item in value)


def _prior(value, where: str) -> str:
    return prior_name(_scalar(value, where))


def _pairs(value, where: str) -> str:
    return pairs_text(value, _shown(value), where)


def _megabytes(value, where: str) -> str:
    if value is None:
        raise Unmappable("null asks for no minimum; aframe-dag keeps its own request")
    return f"{_scalar(value, where)}MB"


def _to(*targets: tuple[str, str], convert=_scalar):
    """A mapper that sets every target to the converted value."""

    def mapper(translation: Translation, value, tree: dict, where: str) -> None:
        text = convert(value, where)
        for target in targets:
            assign(translation, target, text, where, _shown(value), "key")

    return mapper


# -- keys that need more than a conversion --------------------------------------------------------------------------


def _channels(translation: Translation, value, tree: dict, where: str) -> None:
    channels(translation, _list(value, where).split(", "), where)


def _test_start(translation: Translation, value, tree: dict, where: str) -> None:
    if "train_end" not in tree or value != tree["train_end"]:
        raise Unmappable("aframe-dag's testing span starts where training ends ([data] train_stop)")


def _flags(translation: Translation, value, tree: dict, where: str) -> None:
    """aframe ANDs whole flag names (H1_DATA, V1:ITF_SCIENCE:1); [data] flag is the name each ifo prefixes.

    Our gwosc source asks GWOSC for IFO_NAME flags and the frames source DQSegDB for IFO:NAME ones, while aframe may
    read open data within DQSegDB segments: such a mix is reported (`build --segments FILE` takes any segments)."""
    open_data = set(map(str, tree.get("channels") or OPEN_DATA)) <= OPEN_DATA
    separator, server = ("_", "GWOSC (IFO_NAME)") if open_data else (":", "DQSegDB (IFO:NAME)")
    by_ifo = {}
    for flag in _list(value, where).split(", "):
        if flag[2:3] not in ("_", ":") or len(flag) < 4 or flag[:2] in by_ifo:
            raise Unmappable("expected one IFO_NAME or IFO:NAME flag for each ifo; set [data] flag")
        if flag[2] != separator:
            raise Unmappable(f"with these channels aframe-dag queries {server} flags; give `aframe-dag build` the "
                             "segments with --segments FILE")
        by_ifo[flag[:2]] = flag[3:]
    given = tree.get("ifos")
    ifos = [str(ifo) for ifo in given] if isinstance(given, list) else DATA["ifos"].default.split(", ")
    if set(by_ifo) != set(ifos):
        raise Unmappable("aframe-dag queries [data] flag for each ifo of [data] ifos, and only those")
    names = [by_ifo[ifo] for ifo in ifos]
    text = names[0] if len(set(names)) == 1 else ", ".join(names)
    assign(translation, ("data", "flag"), text, where, _shown(value), "key")


def _max_duration(translation: Translation, value, tree: dict, where: str) -> None:
    if value == -1:
        raise Unmappable("aframe-dag always splits segments longer than [data] max_segment_length")
    _to(("data", "max_segment_length"))(translation, value, tree, where)


def _fftlength(translation: Translation, value, tree: dict, where: str) -> None:
    """null means kernel_length + fduration in aframe; training and inference both take it."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise UserError(f"{where}: '{value}' is not a number")
    translation.train["data.fftlength"] = value
    parts = [tree.get(key, float(DATA[key].default)) for key in ("kernel_length", "fduration")]
    if value is None and not all(isinstance(part, (int, float)) for part in parts):
        return  # the bad kernel_length or fduration is refused by its own key
    assign(translation, ("infer", "fftlength"), _scalar(value if value is not None else sum(parts), where), where,
           _shown(value), "key")


BACKENDS = {"export": "torch", "compile": "torch", "aoti": "aotinductor"}


def _inference_mode(translation: Translation, value, tree: dict, where: str) -> None:
    if value == "triton":
        server = "triton"
    elif value == "inprocess":
        server = BACKENDS.get(tree.get("inference_backend", "export"))
    else:
        raise UserError(f"{where}: '{value}' is not triton or inprocess")
    if server is not None:  # else inference_backend is refused as it is mapped
        assign(translation, ("infer", "server"), server, where, _shown(value), "key")


def _inference_backend(translation: Translation, value, tree: dict, where: str) -> None:
    if value not in BACKENDS:
        raise UserError(f"{where}: '{value}' is not one of {', '.join(BACKENDS)}")
    if tree.get("inference_mode") != "inprocess":
        raise Unmappable("aframe uses it only with inference_mode: inprocess")


def _triton_image(translation: Translation, value, tree: dict, where: str) -> None:
    image = _scalar(value, where)
    if not os.path.isabs(image):
        root = os.environ.get("AFRAME_CONTAINER_ROOT")
        if not root:
            raise Unmappable("aframe finds it under $AFRAME_CONTAINER_ROOT, which is not set here; give [infer] "
                             "triton_image the image's absolute path")
        image = os.path.join(root, image)
    assign(translation, ("infer", "triton_image"), image, where, _shown(value), "key")


def _epnfs(translation: Translation, value, tree: dict, where: str) -> None:
    if value is not True:
        raise UserError(f"{where}: '{value}' is not true or false")
    assign(translation, ("condor", "requirements"), "TARGET.EPNFS =?= True", where, _shown(value), "key")


def _train_config(translation: Translation, value, tree: dict, where: str) -> None:
    path = Path(_scalar(value, where)).expanduser()
    if not path.is_absolute():
        raise Unmappable("aframe finds a relative train_config in its repository; give that file with --train-yaml")
    if not path.is_file():
        raise Unmappable("no such file here; give aframe's train config with --train-yaml")
    map_train_yaml(translation, path, "train_config")


RULE_STAGES = {
    "fetch_background": "background", "fetch_train_background": "background", "fetch_test_background": "background",
    "training_waveforms_branch": "waveforms", "val_waveforms_branch": "waveforms-val",
    "testing_waveforms_branch": "injections", "aggregate_training_waveforms": "merge",
    "aggregate_val_waveforms": "merge", "aggregate_testing_waveforms": "merge", "train": "train", "export": "export",
    "infer_group": "infer", "aggregate_infer": "aggregate", "sensitive_volume": "sv",
}
RULE_REASONS = {"compile_model": "[infer] server = aotinductor compiles the model on each infer node's own GPU"}
RUNTIME = "aframe-dag sets no wall-time limit per stage ([train] max_wallclock checkpoints and requeues training)"


def _resources(translation: Translation, value, tree: dict, where: str) -> None:
    """rule: {mem_mb, runtime} -> [stage:NAME] request_memory; runtimes and unknown rules are reported."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping of rule: {{mem_mb: ..., runtime: ...}}, got {_shown(value)}")
    for rule, spec in value.items():
        rule_where = f"{where}.{rule}"
        if rule not in RULE_STAGES:
            reason = RULE_REASONS.get(rule, "no such stage in aframe-dag")
            translation.unmapped.append(f"{rule_where} = {_shown(spec)}: {reason}")
            continue
        if not isinstance(spec, dict):
            raise UserError(f"{rule_where}: expected {{mem_mb: ..., runtime: ...}}, got {_shown(spec)}")
        for name, amount in spec.items():
            field_where = f"{rule_where}.{name}"
            try:
                if name != "mem_mb":
                    raise Unmappable(RUNTIME if name == "runtime" else "no equivalent in aframe-dag")
                assign(translation, (f"stage:{RULE_STAGES[rule]}", "request_memory"), _megabytes(amount, field_where),
                       field_where, _shown(amount), "rule")
            except Unmappable as exc:
                translation.unmapped.append(f"{field_where} = {_shown(amount)}: {exc}")


# -- the mapping ----------------------------------------------------------------------------------------------------

SIMPLE = {
    "train_start": ("data", "train_start"), "train_end": ("data", "train_stop"), "test_end": ("data", "test_stop"),
    "train_min_duration": ("data", "min_train_segment_length"),
    "test_min_duration": ("data", "min_test_segment_length"), "sample_rate": ("data", "sample_rate"),
    "highpass": ("data", "highpass"), "lowpass": ("data", "lowpass"), "kernel_length": ("data", "kernel_length"),
    "fduration": ("data", "fduration"), "seed": ("run", "seed"),
    "minimum_frequency": ("waveforms", "minimum_frequency"),
    "reference_frequency": ("waveforms", "reference_frequency"),
    "waveform_duration": ("waveforms", "duration"), "waveform_approximant": ("waveforms", "approximant"),
    "right_pad": ("waveforms", "right_pad"), "num_training_signals": ("waveforms", "num_train"),
    "num_validation_signals": ("waveforms", "num_val"), "num_testing_signals": ("testing", "num_injections"),
    "spacing": ("testing", "spacing"), "buffer": ("testing", "buffer"), "Tb": ("testing", "Tb"),
    "psd_length": ("infer", "psd_length"), "inference_sampling_rate": ("infer", "sampling_rate"),
    "inference_batch_size": ("infer", "batch_size"), "integration_window_length": ("infer", "integration_length"),
    "cluster_window_length": ("infer", "cluster_length"), "model_name": ("export", "model_name"),
    "train_num_gpus": ("stage:train", "request_gpus"),
}
MAPPERS = {
    **{key: _to(target) for key, target in SIMPLE.items()},
    "ifos": _to(("data", "ifos"), convert=_list), "channels": _channels, "test_start": _test_start, "flags": _flags,
    "max_duration": _max_duration, "prior": _to(("waveforms", "prior"), convert=_prior),
    "shift_steps": _to(("testing", "shifts"), convert=_list), "shifts": _to(("testing", "shifts"), convert=_list),
    "snr_threshold": _to(("testing", "snr_threshold"), ("waveforms", "snr_threshold")), "fftlength": _fftlength,
    "inference_mode": _inference_mode, "inference_backend": _inference_backend, "triton_image": _triton_image,
    "mass_combos": _to(("sv", "mass_combos"), convert=_pairs),
    "source_prior": _to(("sv", "source_prior"), convert=_prior),
    "gpu_min_memory_mb": _to(("stage:infer", "gpus_minimum_memory"), convert=_megabytes),
    "epnfs": _epnfs, "resources": _resources, "train_config": _train_config,
}
# Values that only say what aframe-dag does anyway: naming them maps nothing and loses nothing.
BUILT_IN = {
    "pregenerate_training_waveforms": (True,), "analysis_type": ("hdf5",), "remote_train": (False,),
    "export_preprocessor": ("utils.preprocessing.BatchWhitener",), "return_timeseries": (False,), "dt": (None,),
    "epnfs": (False,), "vetos": (None, []), "train_gpus": (None, "auto"), "inference_gpus": (None, "auto"),
}
GPU_IDS = "HTCondor gives each node its GPUs ([stage:NAME] request_gpus); `aframe-dag run --gpus` picks them here"
SLURM = "a Slurm partition; aframe-dag runs on HTCondor"
IMAGES = "node programs come from this package: [condor] universe = container with container_image, or executable_dir"
ONE_MACHINE = "every stage is a DAGMan node; `aframe-dag run` runs the whole DAG on one machine"
REMOTE = "`aframe-dag init --s3-bucket` keeps training data and runs on S3 and trains on Kubernetes"
DATA_DIRS = ("each run keeps its data in its own [run] train_data_dir and test_data_dir (run.sh sets them under "
             "--directory); [run] reuse takes nodes already done in an earlier aframe-dag run")
ANALYSES = "aframe-dag analyses timeslid background and injections (analysis_type: hdf5) only"
SNAKEMAKE_REASONS = {
    **REASONS,
    "run_dir": "the run directory is --directory: run.sh sets the AFRAME_* directories under it",
    "background_dir": DATA_DIRS, "waveforms_dir": DATA_DIRS, "log_dir": "node logs are in the condor dir's logs/",
    "segment_server": "aframe-dag queries DQSegDB through gwpy: set DEFAULT_SEGMENT_SERVER where `aframe-dag build` "
                      "runs",
    "num_train_waveform_jobs": PER_NODE, "num_validation_jobs": PER_NODE,
    "triton_idle_timeout": "each infer node starts its own Triton server and stops it when done",
    "container_source": IMAGES, "osdf_staging_dir": IMAGES,
    "gpu_rules_local": ONE_MACHINE, "aggregate_rules_local": ONE_MACHINE, "train_partition": SLURM,
    "inference_partition": SLURM, "train_gpus": GPU_IDS, "gpus": GPU_IDS, "inference_gpus": GPU_IDS,
    "inference_num_gpus": "each infer node asks for [stage:infer] request_gpus and serves the model itself",
    "gpu_min_capability": "aframe-dag asks for no GPU capability; add one to [condor] requirements if needed",
    "aoti_gpu_capability": RULE_REASONS["compile_model"],
    "remote_train": REMOTE, "remote_run_dir": REMOTE, "remote_background_dir": REMOTE, "remote_waveforms_dir": REMOTE,
    "analysis_type": ANALYSES, "rnp_frame_dir": ANALYSES, "rnp_channel": ANALYSES,
    "branches_per_job": "[infer] seconds_per_node sets how much timeslid livetime one infer node analyses",
    "export_preprocessor": "the infer node whitens on the client: the exported model is the network alone",
    "export_config": "export settings are [export] keys",
    "vetos": "aframe queries these veto categories; [testing] vetoes takes veto segment files instead (IFO:path each)",
}


def _map_key(translation: Translation, tree: dict, key, path: Path) -> None:
    value, where = tree[key], f"{path}: {key}"
    if value in BUILT_IN.get(key, ()):
        return
    try:
        if key not in MAPPERS:
            raise Unmappable(SNAKEMAKE_REASONS.get(key, "no equivalent in aframe-dag"))
        MAPPERS[key](translation, value, tree, where)
    except Unmappable as exc:
        translation.unmapped.append(f"{where} = {_shown(value)}: {exc}")


def translate(config, train_yaml=None) -> Translation:
    """Map aframe's Snakemake config.yaml (and optionally its train YAML) onto our keys; nothing is written here."""
    path = Path(config).expanduser().absolute()
    tree = read_yaml(path, "--from-aframe")
    if not isinstance(tree, dict) or not tree:
        raise UserError(f"{path}: not an aframe Snakemake config (expected a mapping of keys such as ifos:, "
                        "train_start:, resources:)")
    translation = Translation(path)
    if "channels" not in tree:  # aframe's default channels are the bare ifo names: open data, never simulated noise
        channels(translation, sorted(OPEN_DATA), f"{path}: channels")
    if train_yaml is not None:
        map_train_yaml(translation, Path(train_yaml).expanduser().absolute())
    elif "train_config" in tree:
        _map_key(translation, tree, "train_config", path)
    for key in tree:
        if key != "train_config":
            _map_key(translation, tree, key, path)
    return translation
