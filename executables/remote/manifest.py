"""The Kubernetes objects of a remote training run, as plain manifests (dicts) the API and ``--dry-run`` share.

One Job ``aframe-<run>-train`` runs ``aframe-train`` in the training image with the S3 paths it was given; its
``podFailurePolicy`` keeps the node contract inside Kubernetes: exit 2 (bad input) fails the Job at once, exit 85
(checkpointed) and disruptions (preemption, eviction, node drain) start a new pod without counting against
``backoffLimit``, every other failure counts. The S3 credentials reach the pod only as a file: a Secret holding
one profile of the credentials file, mounted read-only, with ``AWS_SHARED_CREDENTIALS_FILE``/``AWS_PROFILE``
pointing at it; the values never appear in the Job, its environment or its command line. The local train.yaml
travels in a ConfigMap. Both are owned by the Job, so Kubernetes deletes them with it.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from executables.common.errors import InputError, PermanentError

CONTAINER = "train"
CREDENTIALS_DIR = "/var/run/aframe/s3"
CONFIG_DIR = "/var/run/aframe/config"
CONFIG_NAME = "train.yaml"
SPEC_ANNOTATION = "aframe-dag/spec-hash"
BACKOFF_LIMIT = 3
TTL_AFTER_FINISHED = 7 * 24 * 3600  # a retried node can still read a finished Job's outcome for a week
#: Exit codes of aframe-train that mean "start me again" (checkpointed) and "do not retry" (bad input).
CHECKPOINT_EXIT, PERMANENT_EXIT = 85, 2
#: Keys of a credentials-file profile that the pod may need; anything else in the file stays on the access point.
CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class TrainingJob:
    """What the launcher was asked to run: the Job's resources and placement, and aframe-train's arguments."""

    name: str
    namespace: str
    image: str
    train_arguments: tuple[str, ...]
    run_dir: str
    gpus: int = 1
    cpus: int = 8
    memory: str = "32768Mi"
    gpu_product: str | None = None
    gpu_memory: int | None = None  # MiB, nvidia.com/gpu.memory as GPU feature discovery labels nodes
    service_account: str | None = None
    timeout: int = 172800
    s3_endpoint: str | None = None
    profile: str = "default"
    config: str | None = None  # the local train.yaml shipped in the ConfigMap (None: --config is already remote)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.name) > 63 or not _DNS_LABEL.fullmatch(self.name):
            raise PermanentError(f"--job-name {self.name!r}: a Job name must be at most 63 lowercase letters, digits "
                                 "and '-', starting and ending with a letter or digit ([run] name sets it)")
        if not self.image:
            raise PermanentError("--image is empty: set [kubernetes] image to an image with aframe-dag[train]")

    @property
    def secret_name(self) -> str:
        return f"{self.name}-s3"

    @property
    def config_map_name(self) -> str:
        return f"{self.name}-config"


def _labels(job: TrainingJob) -> dict[str, str]:
    return {"app.kubernetes.io/name": "aframe", "app.kubernetes.io/component": "train",
            "app.kubernetes.io/managed-by": "aframe-dag", **job.labels}


def _affinity(job: TrainingJob) -> dict[str, Any] | None:
    expressions = []
    if job.gpu_product:
        expressions.append({"key": "nvidia.com/gpu.product", "operator": "In", "values": [job.gpu_product]})
    if job.gpu_memory:
        # Gt is strict: "at least N MiB" is "more than N - 1"
        expressions.append({"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": [str(job.gpu_memory - 1)]})
    if not expressions:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}


def _container(job: TrainingJob) -> dict[str, Any]:
    env = [
        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{CREDENTIALS_DIR}/credentials"},
        {"name": "AWS_PROFILE", "value": job.profile},
        {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
        {"name": "OMP_NUM_THREADS", "value": str(job.cpus)},
        {"name": "MKL_NUM_THREADS", "value": str(job.cpus)},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if job.s3_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL", "value": job.s3_endpoint})
    resources = {"cpu": str(job.cpus), "memory": job.memory}
    if job.gpus:
        resources["nvidia.com/gpu"] = str(job.gpus)
    mounts = [{"name": "s3-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
              {"name": "dshm", "mountPath": "/dev/shm"}]
    if job.config is not None:
        mounts.append({"name": "train-config", "mountPath": CONFIG_DIR, "readOnly": True})
    return {
        "name": CONTAINER,
        "image": job.image,
        "command": ["aframe-train", *job.train_arguments],
        "env": env,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def job_manifest(job: TrainingJob) -> dict[str, Any]:
    """The batch/v1 Job (see the module doc); its spec hash annotation lets a retry tell its own Job apart."""
    volumes: list[dict[str, Any]] = [
        {"name": "s3-credentials", "secret": {"secretName": job.secret_name, "defaultMode": 0o400}},
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
    ]
    if job.config is not None:
        volumes.append({"name": "train-config", "configMap": {"name": job.config_map_name}})
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [_container(job)], "volumes": volumes}
    affinity = _affinity(job)
    if affinity:
        pod_spec["affinity"] = affinity
    if job.service_account:
        pod_spec["serviceAccountName"] = job.service_account
    spec = {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": int(job.timeout),
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
        "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                                  "values": [PERMANENT_EXIT]}},
            {"action": "Ignore", "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                                 "values": [CHECKPOINT_EXIT]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]},
        "template": {"metadata": {"labels": _labels(job)}, "spec": pod_spec},
    }
    manifest = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": job.name, "namespace": job.namespace, "labels": _labels(job)}, "spec": spec}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    manifest["metadata"]["annotations"] = {SPEC_ANNOTATION: digest}
    return manifest


def _owned(job: TrainingJob, kind: str, name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": job.namespace, "labels": _labels(job)}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"]}]
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata}


def secret_manifest(job: TrainingJob, credentials: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Secret holding the pod's credentials file (``credentials``: one profile's text)."""
    return {**_owned(job, "Secret", job.secret_name, owner), "type": "Opaque",
            "stringData": {"credentials": credentials}}


def config_map_manifest(job: TrainingJob, text: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ConfigMap carrying train.yaml to the pod."""
    return {**_owned(job, "ConfigMap", job.config_map_name, owner), "data": {CONFIG_NAME: text}}


def profile_credentials(path: Path, profile: str) -> str:
    """One profile of an AWS credentials file, as the text of a credentials file (only the keys the pod needs)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise InputError(path, None, f"cannot read the credentials file: {exc.strerror}") from None
    except configparser.Error:
        raise InputError(path, None, "is not an AWS credentials file (INI sections of keys)") from None
    if not parser.has_section(profile):
        raise InputError(path, profile, "no such profile in the credentials file ([s3] profile)")
    section = parser[profile]
    missing = [key for key in CREDENTIAL_KEYS[:2] if not section.get(key)]
    if missing:
        raise InputError(path, profile, f"the profile lacks {', '.join(missing)}")
    lines = [f"[{profile}]"] + [f"{key} = {section[key]}" for key in CREDENTIAL_KEYS if section.get(key)]
    return "\n".join(lines) + "\n"


def redacted(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest safe to print: Secret values replaced by where they come from."""
    if manifest.get("kind") != "Secret":
        return manifest
    return {**manifest, "stringData": dict.fromkeys(manifest.get("stringData", {}), "<from the credentials file>")}
