"""Local executor overhead: 1,000 no-op nodes through `aframe-dag run` against bare subprocess launches.

Figures (DESIGN §10, issue 5): executor / bare ratio for the same no-op commands with 2 workers; overhead per node
in ms (target <= 50 ms); total seconds for 1,000 nodes with --workers 2 (target <= 60 s).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aframe_dag.builder.render import render
from aframe_dag.local.executor import Executor
from aframe_dag.plan.model import Node, Stage, link

NODES = 1000
WORKERS = 2
SETTINGS = {"universe": "vanilla", "container_image": "", "htcondor_version": "25.0", "requirements": "",
            "accounting_group": "", "accounting_group_user": "", "use_oauth_services": "", "max_idle": 1000,
            "max_held_hours": 24}


def no_op_run(directory: Path) -> tuple[Path, list[list[str]]]:
    """A condor dir of NODES independent /bin/true nodes (plus FINAL), and the same commands, bare."""
    condor = directory / "condor"
    (condor / "logs").mkdir(parents=True)
    stages = {"noop": Stage("noop", "true", 1, 1, 1, 0, 0, 0)}
    nodes = [Node(f"noop-{k:04d}", "noop", ("--output", str(directory / f"{k}.out"))) for k in range(NODES)]
    nodes.append(Node("summary", "noop", ("--final",), final=True))
    workflow = link("bench", str(condor), stages, nodes, {}, {})
    for name, text in render(workflow, SETTINGS, "/bin").items():
        (condor / name).write_text(text)
    return condor, [["/bin/true", *node.arguments] for node in nodes]


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    condor, commands = no_op_run(directory)
    start = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda command: subprocess.run(command, check=True), commands))
    bare = time.perf_counter() - start
    start = time.perf_counter()
    code = Executor(condor, WORKERS, [], poll=0.01).run()
    ours = time.perf_counter() - start
    assert code == 0
    print(f"{NODES} no-op nodes, {WORKERS} workers: executor {ours:.1f} s, bare subprocess {bare:.1f} s, "
          f"executor / bare = {ours / bare:.1f}, overhead per node = {(ours - bare) / len(commands) * 1000:.1f} ms")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    main()
