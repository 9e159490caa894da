"""`why` on a node that has not started says what it waits for (issue 20, item 8): many parents are summarised, and
a node the local executor holds back is told why (a free worker, CPUs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aframe_dag.local.records import DONE, ERROR, NOT_READY, READY, SUBMITTED, NodeRecord, write_status_file
from aframe_dag.status.why import explain
from tests.fixtures.fake_dag import Spec, make_run

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def test_many_parents_are_counted_by_stage_and_state(tmp_path):
    infer = [f"infer-{k:02d}" for k in range(16)]
    (tmp_path / "x.dag").write_text("".join(f"JOB {name} infer.sub\n" for name in infer) + "JOB merge merge.sub\n"
                                    "JOB aggregate aggregate.sub\nNODE_STATUS_FILE x.status\n"
                                    f"PARENT {' '.join(infer)} merge CHILD aggregate\n")
    states = [DONE] * 10 + [SUBMITTED] * 3 + [ERROR] + [NOT_READY] * 2
    records = [NodeRecord(name, state, "not_idle" if state == SUBMITTED else "")  # not_idle: running
               for name, state in zip(infer, states, strict=True)]
    records += [NodeRecord("merge", READY), NodeRecord("aggregate", NOT_READY)]
    write_status_file(tmp_path / "x.status", "x.dag", 6, records)
    text = explain(tmp_path / "x.dag", "aggregate")
    assert "  waits for 7 of its 17 parents: infer 3 running, 2 not-ready, 1 failed; merge 1 ready\n" in text
    assert "  among them: infer-13 (failed), infer-10 (running), infer-11 (running), infer-12 (running), merge " \
           "(ready) and 2 more (`aframe-dag status --nodes` lists every node)\n" in text
    assert "it cannot run until they succeed" in text and "from the none" not in text
    assert max(len(line) for line in text.splitlines()) < 200


def start(condor: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen([AFRAME_DAG, "run", str(condor), "--workers", str(workers)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("workers, cpus, expected", [
    (1, 1, "it waits for a free worker: all 1 (--workers) are busy"),
    (2, os.cpu_count(), f"it waits for CPUs: it needs 1, 0 of {os.cpu_count()} are free while other nodes run"),
])
def test_a_node_the_local_executor_holds_back_says_for_what(tmp_path, workers, cpus, expected):
    condor = make_run(tmp_path, [Spec("slow", behaviour=["--sleep", "30"], cpus=cpus), Spec("next")])
    executor = start(condor, workers)
    try:
        deadline = time.monotonic() + 30
        while "AframeWaitsFor" not in ((condor / "aframe.status").read_text() if (condor / "aframe.status").exists()
                                       else ""):
            assert time.monotonic() < deadline and executor.poll() is None, executor.stderr.read()
            time.sleep(0.1)
        text = explain(condor, "next")
        assert text.startswith("next: ready") and f"  its parents are done; `aframe-dag run` has not started it " \
                                                  f"yet: {expected}" in text, text
    finally:
        executor.send_signal(signal.SIGINT)
        executor.wait(timeout=30)
    assert "runs as soon as DAGMan (or `aframe-dag run`) gets to it" in explain(condor, "next")  # nothing runs now
