"""A node's history survives a resume: DAGMan truncates its node log when it starts, the submit files' own logs keep
every run (tests/data/dagman/resumed/README.md: a DAG removed with condor_rm mid-run, then resubmitted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aframe_dag.status.merge import read_status
from aframe_dag.status.nodelog import Attempt, merge, outcomes, ran_for
from aframe_dag.status.why import explain

RESUMED = Path(__file__).resolve().parents[2] / "data" / "dagman" / "resumed"


@pytest.fixture
def resumed(tmp_path) -> Path:
    condor = tmp_path / "condor"
    shutil.copytree(RESUMED, condor)
    return condor


def test_the_node_log_holds_only_the_second_run(resumed):
    """The premise: what DAGMan's node log lost, the submit files' logs still have."""
    text = (resumed / "aframe.dag.nodes.log").read_text()
    assert "DAG Node: long" in text and "DAG Node: early" not in text and "DAG Node: flaky" not in text
    assert "DAG Node: early" in (resumed / "logs" / "node.log").read_text()


def test_timings_hosts_and_attempts_of_nodes_done_before_the_resume(resumed):
    run = read_status(resumed, schedd=False)
    assert {node.status for node in run.nodes.values()} == {"done"}
    for node in run.nodes.values():
        assert None not in (node.start, node.end, node.elapsed, node.host), node
        assert node.end >= node.start
    early, held = run.nodes["early"], run.nodes["held"]
    assert early.elapsed >= 1 and early.host.startswith("slot1_") and early.job
    assert held.holds == 1 and held.elapsed >= 12  # its hold counts, it was its job's time
    assert [attempt.exit_code for attempt in run.nodes["flaky"].attempts] == [1, 0]  # logs/$(nodename).log
    assert [attempt.signal for attempt in run.nodes["killed"].attempts] == [9, None]
    first, second = run.nodes["long"].attempts
    assert (first.state, first.this_run, second.this_run) == ("removed", False, True)
    assert "DAGMan job 1 was removed" in first.removed_reason and "OtherJobRemove" not in first.removed_reason
    assert run.totals().elapsed > 0
    assert json.loads(json.dumps(run.to_dict()))["nodes"]["killed"]["attempts"][0]["signal"] == 9


def test_why_tells_every_attempt_and_how_it_ended(resumed):
    run = read_status(resumed, schedd=False)
    killed = explain(resumed, "killed", run)
    assert "attempt 1 (job 4.0 on slot1_2@vm): killed by signal 9 (SIGKILL)" in killed
    assert "attempt 2 (job 7.0 on slot1_1@vm): exit 0 (success)" in killed
    assert "attempt 1 (job 3.0 on slot1_2@vm): exit 1 (transient failure)" in explain(resumed, "flaky", run)
    assert "removed: its DAGMan job 1 was removed (condor_rm of the DAG)" in explain(resumed, "long", run)
    assert "held: via condor_hold (by user condorpool), released; exit 0 (success)" in explain(resumed, "held", run)
    early = explain(resumed, "early", run)
    assert "  started 2026-12-0" in early and "s running)" in early and "attempt" not in early


def test_a_job_id_seen_again_in_a_later_run_is_another_attempt():
    """The local executor numbered its jobs from 1 in every run: (job id, submit time) tell attempts apart, and an
    attempt both logs hold counts once (this run's copy)."""
    earlier = Attempt("1.0", submitted=100.0, state="removed", ended=101.0)
    again = Attempt("1.0", submitted=200.0, state="exited", exit_code=0, ended=201.0)
    logged = Attempt("1.0", submitted=200.0, state="exited", exit_code=0, ended=201.0, this_run=True)
    assert merge([earlier, again], [logged]) == [earlier, logged]
    same_second = Attempt("1.0", submitted=100.0, state="exited", exit_code=0, ended=101.0)
    current = Attempt("1.0", submitted=100.0, state="exited", exit_code=0, ended=101.0, this_run=True)
    assert merge([earlier, same_second], [current]) == [earlier, current]  # two runs within one second
    assert merge([], [logged]) == [logged] and merge([earlier], []) == [earlier]


def test_a_job_whose_end_no_log_has_counts_for_nothing():
    """kill -9 of the local executor leaves its running job's attempt open: over once a later one exists or the node
    is no longer active, and only a live job counts up to now."""
    orphan = Attempt("3.0", submitted=10.0, started=11.0, state="running")
    rerun = Attempt("1.0", submitted=50.0, started=52.0, state="running", this_run=True)
    assert outcomes([orphan, rerun], active=True) == [
        "no end in the logs (what ran it stopped first: a killed executor or DAGMan)", "running"]
    assert outcomes([orphan], active=False)[0].startswith("no end in the logs")
    assert ran_for([orphan, rerun], now=60.0) == 8.0 and ran_for([orphan], now=None) is None
