"""What summary.json and the report's timings read after a resumed DAG: the nodes done before DAGMan was removed keep
their times and jobs (tests/data/dagman/resumed/README.md, recorded from real DAGMan)."""

import shutil
from pathlib import Path

from executables.analysis.report import timing_section
from executables.analysis.runstate import RunState

RESUMED = Path(__file__).resolve().parents[2] / "data" / "dagman" / "resumed"


def test_a_resubmitted_dag_keeps_the_first_run_in_its_summary(tmp_path):
    condor = tmp_path / "condor"
    shutil.copytree(RESUMED, condor)
    state = RunState.read(condor)
    records = state.node_records()
    assert records["early"]["elapsed"] >= 1 and records["early"]["host"] and records["early"]["start"]
    assert [attempt["outcome"] for attempt in records["killed"]["attempts"]] == ["killed by signal 9 (SIGKILL)",
                                                                                 "exit 0 (success)"]
    assert records["long"]["attempts"][0]["outcome"].startswith("removed: its DAGMan job 1 was removed")
    assert state.stages()["node"]["node_seconds"] >= 13  # early (1 s), held (12 s) and after


def test_each_stage_names_its_slowest_node_once(tmp_path):
    """Issue 20 item 13: the slowest node is a column of the stage table (with its time, and its state when not
    done), not one "slowest:" line per node under it."""
    condor = tmp_path / "condor"
    shutil.copytree(RESUMED, condor)
    section = timing_section(RunState.read(condor))
    assert not [note for note in section.notes if "slowest" in note]
    assert section.header[-1] == "slowest node"
    slowest = {row[0]: row[-1] for row in section.rows}
    assert slowest["node"] == "held 15s" and slowest["long"] == "long 3s"
