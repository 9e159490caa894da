"""Training nodes: one train, a tune study (trials + select), or a launcher to Kubernetes; then export."""

from __future__ import annotations

import hashlib
import json

from ..errors import ConfigError
from ..inference import precision_of
from .arguments import options, repeated
from .layout import Layout
from .model import Node
from .stages import node_device


def train_config_digest(config) -> str:
    """A digest of train.yaml's content, so editing it reruns training even though no argument changed."""
    return hashlib.sha256(json.dumps(config.train, sort_keys=True).encode()).hexdigest()[:16]


def _training_inputs(config, layout: Layout, backgrounds, device: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Arguments and input files every training program shares."""
    shared = config.shared()
    waveforms, validation = layout.waveforms("train"), layout.waveforms("val")
    arguments = options(
        config=config["train"]["config"], waveforms=waveforms, validation=validation,
        ifos=shared["ifos"], sample_rate=shared["sample_rate"], highpass=shared["highpass"],
        lowpass=shared["lowpass"], fduration=shared["fduration"], kernel_length=shared["kernel_length"],
        inference_sampling_rate=shared["inference_sampling_rate"], seed=shared["seed"],
        device=device, checkpoint_minutes=config["train"]["checkpoint_minutes"],
    ) + repeated("background", backgrounds)
    return arguments, (waveforms, validation, *backgrounds, config["train"]["config"])


def training_nodes(config, layout: Layout, backgrounds) -> list[Node]:
    """The nodes that end with model.pt in the train run dir."""
    remote = config["train"]["remote"] == "kubernetes"
    # a remote launcher asks HTCondor for no GPU, but the training it launches runs on the pod's
    device = config["run"]["device"] if remote else node_device(config, "tune-trial" if config["tune"]["enabled"]
                                                                      else "train")
    arguments, inputs = _training_inputs(config, layout, backgrounds, device)
    salt = train_config_digest(config)
    if config["tune"]["enabled"]:
        if layout.train_run.startswith("s3://"):
            raise ConfigError("tune trials train in local run dirs (the study and tune-select read them as paths): "
                              "set [run] train_run_dir to a local directory or disable [tune]", config.path, "tune",
                              "enabled")
        return _tune_nodes(config, layout, arguments, inputs, salt)
    if remote:
        kubernetes, s3 = config["kubernetes"], config["s3"]
        arguments += options(
            run_dir=layout.train_run, job_name=f"aframe-{config['run']['name']}-train",
            image=kubernetes["image"], namespace=kubernetes["namespace"] or None,
            kubeconfig=kubernetes["kubeconfig"], gpus=kubernetes["gpus"], cpus=kubernetes["cpus"],
            memory=f"{kubernetes['memory']}Mi", gpu_product=kubernetes["gpu_product"] or None,
            gpu_memory=kubernetes["gpu_memory"], service_account=kubernetes["service_account"] or None,
            timeout=kubernetes["timeout"], s3_endpoint=s3["endpoint_url"] or None,
            credentials_file=s3["credentials_file"], profile=s3["profile"],
        )
        return [Node("remote-train", "remote-train", arguments, inputs, (layout.model,), salt=salt)]
    arguments += options(max_wallclock=_max_wallclock(config), run_dir=layout.train_run)
    return [Node("train", "train", arguments, inputs, (layout.model,), salt=salt)]


def _max_wallclock(config) -> float | None:
    """--max-wallclock for train and tune-trial nodes, only when [train] max_wallclock sets a limit."""
    return config["train"]["max_wallclock"] or None


def _tune_nodes(config, layout: Layout, arguments, inputs, salt) -> list[Node]:
    tune = config["tune"]
    study = options(journal=layout.journal, study=config["run"]["name"], sampler=tune["sampler"],
                    max_epochs=tune["max_epochs"])
    space = repeated("param", [f"{path}={kind}:{':'.join(args)}" for path, kind, args in tune["space"]])
    trials = []
    for index in range(tune["num_trials"]):
        run_dir = layout.trial(index)
        trial_arguments = arguments + study + space + options(max_wallclock=_max_wallclock(config), trial=index,
                                                              run_dir=run_dir)
        trials.append(Node(f"tune-trial-{index:03d}", "tune-trial", trial_arguments, inputs,
                           (f"{run_dir}/model.pt",), salt=salt))
    trial_models = tuple(node.outputs[0] for node in trials)
    arguments = study + options(device=node_device(config, "tune-select"), output=layout.model)
    arguments += repeated("trial", trial_models)
    select = Node("tune-select", "tune-select", arguments, trial_models, (layout.model,))
    return trials + [select]


def model_digest(config) -> str:
    """A digest of a reused local model's bytes, so pointing [train] model at another file, or replacing the file,
    reruns export; an s3:// model is known by its URL alone (replaced in place, it needs `aframe-dag invalidate`)."""
    model = config["train"]["model"]
    if model.startswith("s3://"):
        return ""
    digest = hashlib.sha256()
    try:
        with open(model, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ConfigError(f"cannot read {model}: {exc.strerror}", config.path, "train", "model") from None
    return digest.hexdigest()[:16]


def trained_model(config, layout: Layout) -> str:
    """The model export reads: [train] model when set, else what this run's training writes."""
    return config["train"]["model"] or layout.model


def export_node(config, layout: Layout) -> Node:
    """The trained network as a Triton model repository (ONNX, and TensorRT where it can be built)."""
    shared, export = config.shared(), config["export"]
    model = trained_model(config, layout)
    arguments = options(
        model=model, repository=layout.model_repository, model_name=export["model_name"],
        batch_size=config["infer"]["batch_size"], ifos=shared["ifos"], sample_rate=shared["sample_rate"],
        kernel_length=shared["kernel_length"], inference_sampling_rate=shared["inference_sampling_rate"],
        tensorrt=export["tensorrt"], tolerance=export["tolerance"], device=node_device(config, "export"),
        precision=precision_of(config["infer"]["precision"], config["infer"]["tensorrt_fp16"]),
    )
    salt = model_digest(config) if config["train"]["model"] else ""
    return Node("export", "export", arguments, (model,), (layout.model_repository,), salt=salt)
