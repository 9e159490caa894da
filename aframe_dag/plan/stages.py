"""Stage kinds: the console script each runs and what its jobs request, from [stage:NAME] and [run] device."""

from __future__ import annotations

from ..config.schema import STAGES
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
}
assert set(PROGRAMS) == set(STAGES)

CHECKPOINTING = {"train", "tune-trial"}
LOCAL_UNIVERSE = {"remote-train"}


def make_stage(config, name: str) -> Stage:
    """One stage's settings; with device = cpu no stage asks for a GPU."""
    section = config.stage(name)
    gpus = section["request_gpus"] if config["run"]["device"] == "cuda" else 0
    return Stage(
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
        local=name in LOCAL_UNIVERSE,
        category="tune" if name == "tune-trial" else "gpu" if gpus else None,
    )


def node_device(config, stage: str) -> str:
    """What a stage's nodes compute on: cuda only where the job gets a GPU (a node told cuda needs one)."""
    return "cuda" if make_stage(config, stage).request_gpus else "cpu"


def category_limits(config) -> dict[str, int]:
    """MAXJOBS of each node category: GPU nodes at once, tune trials at once."""
    return {"gpu": config["condor"]["max_gpu_jobs"], "tune": config["tune"]["max_parallel"]}
