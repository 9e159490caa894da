"""Issue 10's done-when, end to end: export -> infer -> aggregate through `aframe-dag run` with both backends.

The session's ``small_run`` (the micro run's model exported again and run over 400 s of new test data in two infer
nodes, zero-lag and one timeslide, with onnxruntime) is rebuilt (`build --force`) with `[infer] server = triton` and
`tritonserver` = a wrapper that turns into a real Triton (pytriton, CPU) on the ports the node gives it. Only the
infer nodes and those below them run again, each starting and stopping its own server, and the aggregated events
equal onnxruntime's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aframe_dag.builder.build import build
from executables.formats.events import EventSet, RecoveredInjectionSet
from tests.executables.infer.triton_venv import alive, needs_triton, pytriton_wrapper

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
BELOW_INFER = ("infer", "aggregate", "sv", "summary")
SETS = {"background": EventSet, "zero-lag": EventSet, "foreground": RecoveredInjectionSet}


def infer_arguments(micro_ini, *overrides: str) -> list[tuple[str, ...]]:
    nodes = build(micro_ini, overrides, dry_run=True).workflow.nodes
    return [node.arguments for node in nodes if node.stage == "infer"]


def option(arguments: tuple[str, ...], name: str) -> str | None:
    return arguments[arguments.index(name) + 1] if name in arguments else None


def test_the_plan_passes_the_server_binary_only_to_triton_nodes(micro_ini, run_env):
    for arguments in infer_arguments(micro_ini, "infer.server=triton", "infer.tritonserver=/opt/triton/bin/ts"):
        assert option(arguments, "--server") == "triton" and option(arguments, "--tritonserver") == "/opt/triton/bin/ts"
        assert option(arguments, "--precision") == "fp32"
    (first, *_) = infer_arguments(micro_ini, "infer.server=triton", "infer.tensorrt_fp16=true")  # the old alias
    assert option(first, "--tritonserver") == "tritonserver" and option(first, "--precision") == "fp16"
    for arguments in infer_arguments(micro_ini):  # micro runs on the cpu: auto is onnxruntime
        assert option(arguments, "--server") == "onnxruntime" and option(arguments, "--precision") == "fp32"
        assert "--tritonserver" not in arguments


def run(condor_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([AFRAME_DAG, "run", str(condor_dir), "--workers", "2"], capture_output=True, text=True,
                          timeout=900)


def aggregated(paths) -> dict[str, object]:
    """The aggregate node's three event sets, rows in (time, shift) order: the same events compare row by row."""
    sets = {}
    for path in paths:
        name = Path(path).stem
        events = SETS[name].read(path)
        sets[name] = events.take(np.lexsort((events.detection_time, *events.shift.T[::-1])))
    return sets


@pytest.mark.slow
@needs_triton
def test_triton_and_onnxruntime_runs_of_the_dag_find_the_same_events(small_run, monkeypatch):
    for variable, value in small_run.environment.items():
        monkeypatch.setenv(variable, value)
    reference = aggregated(small_run.events.values())  # onnxruntime's, as small_run ran

    record = small_run.root / "tritonserver-starts.jsonl"
    wrapper = pytriton_wrapper(small_run.root / "tritonserver-wrapper", record)
    second = build(small_run.ini, (*small_run.overrides, "infer.server=triton", f"infer.tritonserver={wrapper}"),
                   force=True)
    assert second.condor_dir == small_run.condor
    triton = run(second.condor_dir)
    assert triton.returncode == 0, triton.stderr[-3000:]
    infers = [node.name for node in second.workflow.nodes if node.stage == "infer"]
    assert len(infers) == 2
    above = [node.name for node in second.workflow.nodes if node.stage not in BELOW_INFER]
    assert "export" in above and "injections-merge" in above
    for name in above:
        assert f"{name}: done already (PRE_SKIP)" in triton.stderr, name
    for name in (*infers, "aggregate", "sv"):
        assert f"{name}: started" in triton.stderr

    starts = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(starts) == len(infers)  # each node started its own server, once
    assert all(start["mode"] == "pytriton" and not alive(start["pid"]) for start in starts)
    for name in infers:
        assert "Triton ready at 127.0.0.1:" in (second.condor_dir / "logs" / f"{name}.err").read_text()

    (node,) = [node for node in second.workflow.nodes if node.stage == "aggregate"]
    found = aggregated(node.outputs)
    for name, events in reference.items():
        ours = found[name]
        assert len(ours) == len(events) > 0 and ours.Tb == events.Tb, name
        np.testing.assert_array_equal(ours.detection_time, events.detection_time)
        np.testing.assert_array_equal(ours.shift, events.shift)
        np.testing.assert_allclose(ours.detection_statistic, events.detection_statistic, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(found["foreground"].injection_time, reference["foreground"].injection_time)
