"""DAG build speed: `aframe-dag build` (plan, render, write, its own check) for ~1k, ~10k and ~100k nodes.

Figures (DESIGN §10, §12, issue 4):
- build / bare write: plan + render + write of the run, against writing the same bytes with plain write();
- pycondor / ours: pycondor writing the part of the DAG it can express (JOB, VARS, PARENT, RETRY), against our
  render of the whole DAG (target >= 3) and against plan + render; both with the cyclic GC paused, as ours runs;
- scaling: seconds per 1k nodes at 100k against at 1k (linear: about 1);
- absolute seconds (secondary): `build()` as the CLI runs it, check included (targets 2 s at 10k and 10 s at
  100k nodes), and `check` alone (our rules, with htcondor2.Submit.from_dag running beside them);
- the node count of the default sandbox (Tb = 1 yr, 500k injections; target: low thousands).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from aframe_dag.builder.build import build
from aframe_dag.builder.render import find_bin_dir, render
from aframe_dag.bulk import without_cyclic_gc
from aframe_dag.check import check_run
from aframe_dag.config import load_config
from aframe_dag.init.init import run_directories, run_ini_text
from aframe_dag.plan import plan

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


def measure(ini: Path, directory: Path, size: int, bin_dir: str) -> tuple[int, dict[str, float]]:
    """One round at one size, in fresh condor dirs: the node count and every figure's seconds."""
    seconds: dict[str, float] = {}
    whole = directory / "whole"
    seconds["build"], result = timed(build, ini, overrides_for(size) + [f"run.condor_dir={whole}"])
    parts = directory / "parts"
    parts.mkdir()
    config = load_config(ini, overrides_for(size) + [f"run.condor_dir={parts}"])
    seconds["plan"], workflow = timed(plan, config)
    seconds["render"], files = timed(render, workflow, config["condor"], bin_dir)
    seconds["write"], _ = timed(write_all, parts, files)
    seconds["bare"], _ = timed(write_all, parts, files)
    seconds["check"], _ = timed(check_run, parts, submittable=False)
    if size <= 10000:
        theirs = directory / "pycondor"
        theirs.mkdir()
        seconds["pycondor"], _ = timed(without_cyclic_gc(pycondor_build), workflow, theirs)
    for made in directory.iterdir():
        shutil.rmtree(made)
    return len(result.workflow.nodes), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds per size (default 3)")
    rounds = parser.parse_args().rounds
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
        work = directory / label
        work.mkdir()
        measured = [measure(ini, work, size, bin_dir) for _ in range(rounds)]
        nodes = measured[0][0]
        best = {figure: min(seconds[figure] for _, seconds in measured) for figure in measured[0][1]}
        parts = best["plan"] + best["render"] + best["write"]
        per_thousand[label] = parts / nodes * 1000
        line = (f"{label}: {nodes} nodes, build() {best['build']:.2f} s with its check; plan {best['plan']:.2f} + "
                f"render {best['render']:.2f} + write {best['write']:.2f} = {parts:.2f} s, / bare write = "
                f"{parts / best['bare']:.1f}; check {best['check']:.2f} s")
        if "pycondor" in best:
            line += (f"; pycondor / our render = {best['pycondor'] / best['render']:.1f}, "
                     f"pycondor / our plan + render = {best['pycondor'] / (best['plan'] + best['render']):.1f}")
        print(line, f"(best of {rounds})", flush=True)
    print(f"scaling: s per 1k nodes at 100k / at 1k = {per_thousand['100k'] / per_thousand['1k']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
