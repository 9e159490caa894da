"""`aframe-remote-train`: the local-universe node that trains on Kubernetes (DESIGN §6 Remote, issue 12).

It takes aframe-train's arguments (all data ``s3://``, ``--run-dir`` an ``s3://`` prefix) plus the Job's placement,
checks that the inputs exist on S3, then creates or adopts the Job ``--job-name`` whose pod runs ``aframe-train``
with those arguments (``executables.remote.launcher``), streams the pod logs to stderr and exits 0 once
``model.pt`` is in the run dir, 1 for what a retry can fix (preemption, OOM, eviction, timeout, S3 or API
unreachable, access denied), 2 for what it cannot (rejected by the API, a bad spec, aframe-train's exit 2).
Credentials come only from ``--credentials-file`` (one profile is copied into the Job's Secret); values from the
environment are never used or printed. ``--dry-run`` prints the manifests (Secret values redacted) and exits.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from executables.common import storage
from executables.common.cli import device_option, node_options
from executables.common.errors import InputError, PermanentError, TransientError
from executables.common.shared import data_options
from executables.remote.manifest import (
    CONFIG_DIR,
    CONFIG_NAME,
    TrainingJob,
    config_map_manifest,
    job_manifest,
    profile_credentials,
    redacted,
    secret_manifest,
)

log = logging.getLogger("aframe-remote-train")

#: aframe-train's options this node forwards to the pod, in this order (values passed through as text).
TRAIN_OPTIONS = ("config", "waveforms", "validation", "ifos", "sample_rate", "highpass", "lowpass", "fduration",
                 "kernel_length", "inference_sampling_rate", "seed", "device", "checkpoint_minutes")


def _train_arguments(values: dict[str, Any], config: str, background: tuple[str, ...], run_dir: str) -> list[str]:
    arguments: list[str] = []
    for name in TRAIN_OPTIONS:
        value = config if name == "config" else values[name]
        if value is not None:
            arguments += [f"--{name.replace('_', '-')}", str(value)]
    for path in background:
        arguments += ["--background", path]
    return arguments + ["--run-dir", run_dir]


def _check_inputs(paths: list[str], s3: Any) -> None:
    """Every input is an s3:// object the pod can read; a missing one is a bad input found before any GPU time."""
    for path in paths:
        if not storage.is_remote(path):
            raise InputError(path, None, "is a local path, which a Kubernetes pod cannot read: training data must "
                                         "be on S3 ([run] train_data_dir)")
        if not storage.exists(path, s3=s3):
            raise InputError(path, None, "no such object on S3 (did the data stage upload it?)")


def _default_namespace(kubeconfig: Path | None) -> str:
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=str(kubeconfig) if kubeconfig else None)
    except Exception:  # no kubeconfig at all: a dry run still shows the manifest
        return "default"
    return active.get("context", {}).get("namespace") or "default"


def _terminate(signum: int, frame: Any) -> None:
    """condor_rm sends SIGTERM: leave through the normal path so the Secret is deleted; the Job keeps running."""
    raise TransientError(f"stopped by signal {signum}; the Job keeps running and a retry adopts it")


@click.command()
@node_options
@click.option("--config", "config_path", required=True,
              help="train.yaml (local: shipped to the pod in a ConfigMap; or an s3:// URL).")
@click.option("--waveforms", required=True, help="Training polarizations (s3://).")
@click.option("--validation", required=True, help="Validation responses (s3://).")
@click.option("--background", multiple=True, help="A training background file (s3://); repeat.")
@data_options(passed_on=True)
@click.option("--seed", required=True)
@device_option("Device of the training pod.", default="cuda")
@click.option("--checkpoint-minutes")
@click.option("--run-dir", required=True, help="S3 prefix the pod writes checkpoints and model.pt to.")
@click.option("--job-name", required=True, help="Deterministic Job name, aframe-<run>-train: a retry adopts it.")
@click.option("--image", required=True, help="Container image with aframe-dag[train] installed.")
@click.option("--namespace", help="Namespace [default: the kubeconfig context's, else 'default'].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path),
              help="kubeconfig file [default: $KUBECONFIG or ~/.kube/config].")
@click.option("--gpus", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--cpus", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--memory", default="32768Mi", show_default=True, help="Pod memory, a Kubernetes quantity.")
@click.option("--gpu-product", help="Required nvidia.com/gpu.product node label, e.g. NVIDIA-A100-SXM4-80GB.")
@click.option("--gpu-memory", type=click.IntRange(min=1), help="Required GPU memory, MiB (nvidia.com/gpu.memory).")
@click.option("--service-account", help="Service account of the pod [default: the namespace's].")
@click.option("--timeout", type=click.IntRange(min=1), default=172800, show_default=True,
              help="Seconds after the Job's creation when it is given up (deleted, exit 1).")
@click.option("--s3-endpoint", help="S3 endpoint URL for this node and the pod [default: AWS].")
@click.option("--credentials-file", type=click.Path(dir_okay=False, path_type=Path),
              help="AWS credentials file; its --profile is copied into the Job's Secret.")
@click.option("--profile", default="default", show_default=True, help="Profile of --credentials-file.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Seconds between status checks of the Job.")
@click.option("--dry-run", is_flag=True, help="Print the manifests (Secret values redacted) and exit.")
def main(config_path: str, background: tuple[str, ...], run_dir: str, job_name: str, image: str,
         namespace: str | None, kubeconfig: Path | None, gpus: int, cpus: int, memory: str, gpu_product: str | None,
         gpu_memory: int | None, service_account: str | None, timeout: int, s3_endpoint: str | None,
         credentials_file: Path | None, profile: str, poll_interval: float, dry_run: bool,
         **train_values: Any) -> list[str]:
    """Train on Kubernetes: one Job running aframe-train on the S3 data, adopted on retry; model.pt lands on S3."""
    if not storage.is_remote(run_dir):
        raise click.BadParameter(f"{run_dir!r}: the pod writes to S3, so the run dir must be s3://",
                                 param_hint="--run-dir")
    storage.parse_url(run_dir)
    remote_config = storage.is_remote(config_path)
    config_text = None if remote_config else _read_config(Path(config_path))
    pod_config = config_path if remote_config else f"{CONFIG_DIR}/{CONFIG_NAME}"
    job = TrainingJob(
        name=job_name, namespace=namespace or _default_namespace(kubeconfig), image=image,
        train_arguments=tuple(_train_arguments(train_values, pod_config, background, run_dir)), run_dir=run_dir,
        gpus=gpus, cpus=cpus, memory=memory, gpu_product=gpu_product, gpu_memory=gpu_memory,
        service_account=service_account, timeout=timeout, s3_endpoint=s3_endpoint, profile=profile,
        config=None if remote_config else config_path,
    )
    if dry_run:
        manifests = ([config_map_manifest(job, config_text)] if config_text is not None else []) + [
            redacted(secret_manifest(job, "")), job_manifest(job)]
        yaml.safe_dump_all(manifests, sys.stdout, sort_keys=False)
        return []
    if credentials_file is None:
        raise click.BadParameter("the pod needs S3 credentials: give the credentials file ([s3] credentials_file)",
                                 param_hint="--credentials-file")
    credentials = profile_credentials(credentials_file, profile)
    s3 = storage.client(endpoint_url=s3_endpoint, profile=profile, credentials_file=credentials_file)
    log.info("S3: %s", storage.describe_client(s3))
    inputs = [train_values["waveforms"], train_values["validation"], *background]
    _check_inputs(inputs + ([config_path] if remote_config else []), s3)

    from executables.remote.kube import Kube
    from executables.remote.launcher import Launcher

    kube = Kube(kubeconfig, job.namespace)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        model = Launcher(kube, job, credentials, config_text, s3=s3, poll=poll_interval).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("model: %s", model)
    return [model]


def _read_config(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, None, f"cannot read train.yaml: {exc.strerror}") from None
    if len(text.encode()) > 900_000:  # a ConfigMap holds at most 1 MiB
        raise PermanentError(f"{path}: train.yaml is too large for a ConfigMap; put it on S3 and pass its URL")
    return text
