"""DAG build speed: plan + render + write + check for ~1k, ~10k and ~100k nodes, as ratios in one process.

Figures (DESIGN §10, issue 4):
- build / bare write: plan + render + write of the run, against writing the same bytes with plain write();
- pycondor / ours: pycondor writing the part of the DAG it can express (JOB, VARS, PARENT, RETRY), against our
  render of the whole DAG and against plan + render (target >= 3);
- scaling: seconds per 1k nodes at 100k against at 1k (linear: about 1);
- absolute seconds of build and of `check` (secondary; targets 2 s at 10k and 10 s at 100k nodes);
- the node count of the default sandbox (Tb = 1 yr, 500k injections; target: low thousands).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from aframe_dag.config import load_config
from aframe_dag.init import run_directories, run_ini_text
from aframe_dag.plan import plan
from aframe_dag.render import find_bin_dir, render

SIZES = {"1k": 1000, "10k": 10000, "100k": 100000}


def overrides_for(nodes: int) -> list[str]:
    """A config whose node count is about `nodes`: many short test files, each a background and injection node."""
    files = nodes // 2
    segment = 1024
    return ["condor.site=local", f"data.max_segment_length={segment}", "data.min_test_segment_length=128",
            f"data.test_stop={1241443783 + files * segment}", "testing.Tb=1000000", "testing.num_injections=1000",
            f"infer.seconds_per_node={files * segment / 50:.0f}"]


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def write_all(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        with open(directory / name, "w") as handle:
            handle.write(text)


def pycondor_build(workflow, directory: Path) -> None:
    """The same nodes as pycondor Jobs (one argument per node), stage-level parents, written by Dagman.build."""
    import pycondor

    dagman = pycondor.Dagman("aframe", submit=str(directory))
    jobs = {}
    for stage, nodes in workflow.by_stage().items():
        job = pycondor.Job(stage, "/bin/true", submit=str(directory), dag=dagman)
        for node in nodes:
            job.add_arg(" ".join(node.arguments), name=node.name, retry=workflow.stages[stage].retries)
        jobs[stage] = job
    stage_of = {node.name: node.stage for node in workflow.nodes}
    edges = {(stage_of[parent], node.stage) for node in workflow.nodes for parent in workflow.parents[node.name]}
    for parent, child in edges:
        jobs[child].add_parent(jobs[parent])
    dagman.build(fancyname=False)


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-build-"))
    for variable, value in run_directories(directory, None).items():
        os.environ[variable] = value
    ini = directory / "run.ini"
    ini.write_text(run_ini_text("sandbox", "bench", "local", "cuda", None))
    (directory / "train.yaml").write_text((resources.files("aframe_dag") / "configs" / "train.yaml").read_text())
    sandbox = plan(load_config(ini))
    print(f"default sandbox: {len(sandbox.nodes)} nodes")
    bin_dir = find_bin_dir()
    per_thousand = {}
    for label, size in SIZES.items():
        out = directory / label
        out.mkdir()
        config = load_config(ini, overrides_for(size) + [f"run.condor_dir={out}"])
        planned, workflow = timed(plan, config)
        rendered, files = timed(render, workflow, config["condor"], bin_dir)
        written, _ = timed(write_all, out, files)
        bare, _ = timed(write_all, out, files)
        build = planned + rendered + written
        nodes = len(workflow.nodes)
        per_thousand[label] = build / nodes * 1000
        line = (f"{label}: {nodes} nodes, build {build:.2f} s (plan {planned:.2f}, render {rendered:.2f}, "
                f"write {written:.2f}), build / bare write = {build / bare:.1f}")
        try:
            from aframe_dag.check import check_run
            checked, _ = timed(check_run, out, submittable=False)
            line += f", check {checked:.2f} s"
        except ImportError:
            pass
        if size <= 10000:
            pycondor_dir = directory / f"pycondor-{label}"
            pycondor_dir.mkdir()
            theirs, _ = timed(pycondor_build, workflow, pycondor_dir)
            line += (f", pycondor / our render = {theirs / rendered:.1f}, "
                     f"pycondor / our plan + render = {theirs / (planned + rendered):.1f}")
        print(line, flush=True)
    print(f"scaling: s per 1k nodes at 100k / at 1k = {per_thousand['100k'] / per_thousand['1k']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
