"""Stage kinds: the console script each runs and what its jobs request, from [stage:NAME] and [run] device."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.schema import STAGES
from ..sandbox import input_name
from .model import Stage

PROGRAMS = {
    "background": "aframe-background",
    "waveforms": "aframe-waveforms",
    "waveforms-val": "aframe-waveforms",
    "injections": "aframe-injections",
    "merge": "aframe-merge",
    "train": "aframe-train",
    "tune-trial": "aframe-tune-trial",
    "tune-select": "aframe-tune-select",
    "remote-train": "aframe-remote-train",
    "export": "aframe-export",
    "infer": "aframe-infer",
    "aggregate": "aframe-aggregate",
    "sv": "aframe-sv",
    "summary": "aframe-summary",
    "reference-bank": "aframe-reference-bank",
    "reference-filter": "aframe-reference-filter",
    "reference-aggregate": "aframe-aggregate",
    "reference-sv": "aframe-sv",
}
assert set(PROGRAMS) == set(STAGES)

CHECKPOINTING = {"train", "tune-trial"}
LOCAL_UNIVERSE = {"remote-train"}


@dataclass(frozen=True)
class RunStage(Stage):
    """A stage whose jobs also get the run's own environment (``run_environment``) beside the thread counts."""

    run_environment: tuple[tuple[str, str], ...] = ()

    @property
    def environment(self) -> dict[str, str]:
        return {**super().environment, **dict(self.run_environment)}


def uses_s3(config) -> bool:
    """A run reads or writes S3 when a run directory is s3:// or [s3] names an endpoint or a credentials file."""
    run, s3 = config["run"], config["s3"]
    remote = any(str(run[key]).startswith("s3://") for key in ("train_data_dir", "train_run_dir"))
    return remote or bool(s3["endpoint_url"] or s3["credentials_file"])


def run_environment(config, sandboxed: bool = False) -> tuple[tuple[str, str], ...]:
    """What every job needs beyond threads: a writable matplotlib dir and, for S3, where the credentials are.

    MPLCONFIGDIR is ``<tmp_dir>/matplotlib`` because jobs (a pool user, a container) may not write $HOME; without a
    shared filesystem (``sandboxed``) it is a directory of the job's sandbox, and the credentials file is sent with
    the job (``transfer_inputs``). S3 jobs get the credentials file's path, the profile and the endpoint, never a key
    (DESIGN §12 Secrets).
    """
    environment = [("MPLCONFIGDIR", ".matplotlib" if sandboxed else f"{config['run']['tmp_dir']}/matplotlib")]
    if uses_s3(config):
        s3 = config["s3"]
        if s3["credentials_file"]:
            credentials = input_name(s3["credentials_file"]) if sandboxed else s3["credentials_file"]
            environment.append(("AWS_SHARED_CREDENTIALS_FILE", credentials))
        environment.append(("AWS_PROFILE", s3["profile"]))
        if s3["endpoint_url"]:
            environment.append(("AWS_ENDPOINT_URL", s3["endpoint_url"]))
    return tuple(environment)


def transfer_inputs(config) -> tuple[str, ...]:
    """What every file-transfer job is sent beside its node's inputs: the S3 credentials file, when one is used."""
    return (config["s3"]["credentials_file"],) if uses_s3(config) and config["s3"]["credentials_file"] else ()


def local_universe(config, name: str) -> bool:
    """Stages whose jobs run on the access point: the Kubernetes launcher, and without a shared filesystem the
    FINAL summary, which reads the whole condor dir and every result."""
    return name in LOCAL_UNIVERSE or (name == "summary" and config["condor"]["filesystem"] == "transfer")


def make_stage(config, name: str) -> Stage:
    """One stage's settings; with device = cpu no stage asks for a GPU."""
    section = config.stage(name)
    local = local_universe(config, name)
    sandboxed = config["condor"]["filesystem"] == "transfer" and not local
    gpus = section["request_gpus"] if config["run"]["device"] == "cuda" else 0
    return RunStage(
        name=name,
        program=PROGRAMS[name],
        request_cpus=section["request_cpus"],
        request_memory=section["request_memory"],
        request_disk=section["request_disk"],
        request_gpus=gpus,
        gpus_minimum_memory=section["gpus_minimum_memory"],
        retries=section["retries"],
        priority=section["priority"],
        template=section["template"],
        checkpoint=name in CHECKPOINTING,
        local=local,
        category="tune" if name == "tune-trial" else "gpu" if gpus else None,
        run_environment=run_environment(config, sandboxed),
        transfer_inputs=transfer_inputs(config) if sandboxed else (),
    )


def node_device(config, stage: str) -> str:
    """What a stage's nodes compute on: cuda only where the job gets a GPU (a node told cuda needs one)."""
    return "cuda" if make_stage(config, stage).request_gpus else "cpu"


def category_limits(config) -> dict[str, int]:
    """MAXJOBS of each node category: GPU nodes at once, tune trials at once."""
    return {"gpu": config["condor"]["max_gpu_jobs"], "tune": config["tune"]["max_parallel"]}
