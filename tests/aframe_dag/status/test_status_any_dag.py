"""`status`, `why`, `check` and `graph` on DAGs that `aframe-dag build` did not write, recorded from real DAGMan
(tests/data/dagman/idiom and subdag; see their README.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aframe_dag.check import check_run
from aframe_dag.cli.main import main
from aframe_dag.status.merge import read_status
from aframe_dag.status.text import format_status
from aframe_dag.status.why import explain

RECORDED = Path(__file__).resolve().parents[2] / "data" / "dagman"


@pytest.fixture
def idiom(tmp_path) -> Path:
    """A copy of the recorded idiom run (status reads it as a moved condor dir would be)."""
    shutil.copytree(RECORDED / "idiom", tmp_path / "idiom")
    return tmp_path / "idiom" / "idiom.dag"


def test_status_reads_a_dagman_idiom_run(idiom):
    run = read_status(idiom, schedd=False)
    states = {name: node.status for name, node in run.nodes.items()}
    assert states == {"setup": "done", "flaky": "done", "bad": "failed", "orphan": "not-ready", "skipped": "done",
                      "hop": "done", "gpu": "done", "inline": "done", "tail": "done", "summary": "done",
                      "pair+left": "done", "pair+right": "done"}
    assert run.nodes["bad"].exit_code == 2 and run.nodes["flaky"].retries == 1
    assert run.nodes["skipped"].pre_skipped and run.nodes["gpu"].gpus
    assert run.rescue.name == "idiom.dag.rescue001"
    text = format_status(run)
    assert f"in {idiom}:" in text and f"aframe-dag why bad {idiom}" in text
    assert f"continue once fixed: condor_submit_dag {idiom}" not in text  # DAGMan calls it done: FINAL succeeded


def test_why_names_the_failed_node_with_its_exit_code_and_stderr(idiom):
    text = explain(idiom, "bad")
    assert "exit code: 2" in text and "UNLESS-EXIT 2: not retried" in text
    assert f"stderr ({idiom.parent / 'logs' / 'bad.err'}" in text
    assert "bad bad cluster=" in text  # the command, with $(JOB), $(mode) and $(ClusterId) expanded
    flaky = explain(idiom, "flaky")
    assert "attempt 1 (job" in flaky and "exit 1 (transient failure)" in flaky


def test_the_command_line_takes_a_dag_file(idiom, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["status", str(idiom), "--json"])
    assert exit_.value.code in (0, None)
    state = json.loads(capsys.readouterr().out)
    assert state["nodes"]["bad"]["exit_code"] == 2 and state["nodes"]["pair+left"]["status"] == "done"


def test_a_subdag_is_one_node_and_its_own_dag_reads_too():
    outer = read_status(RECORDED / "subdag" / "outer.dag", schedd=False)
    assert {name: node.status for name, node in outer.nodes.items()} == {
        "first": "done", "pair+left": "done", "pair+right": "done", "inner": "done"}
    assert outer.nodes["inner"].stage == "inner"  # its DAG file's name
    inner = read_status(RECORDED / "subdag" / "inner.dag", schedd=False)
    assert {name: node.status for name, node in inner.nodes.items()} == {"x": "done", "y": "done"}


@pytest.mark.parametrize("dag", ["idiom/idiom.dag", "subdag/outer.dag", "subdag/inner.dag"])
def test_check_and_graph_read_any_valid_dag(dag, tmp_path):
    findings = check_run(RECORDED / dag, submittable=False, htcondor_tools=False)
    assert [finding for finding in findings if finding.severity == "error"] == []
    with pytest.raises(SystemExit) as exit_:
        main(["graph", str(RECORDED / dag), "-o", str(tmp_path / "g.dot")])
    assert exit_.value.code in (0, None) and "digraph" in (tmp_path / "g.dot").read_text()


def test_a_directory_of_several_dags_asks_which(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["status", str(RECORDED / "subdag")])
    assert exit_.value.code == 2
    assert "more than one DAG here (inner.dag, outer.dag, pair.dag): name the one you mean" in capsys.readouterr().err


def test_every_node_of_a_dag_using_the_whole_language_explains_itself(tmp_path):
    """No valid DAG makes status, why or graph fail: splices, sub-DAGs, inline descriptions, service nodes."""
    from tests.aframe_dag.test_dagfile import LANGUAGE

    (tmp_path / "part.dag").write_text("JOB included a.sub\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.dag").write_text("JOB X ../a.sub\nJOB Y ../a.sub\nPARENT X CHILD Y\n")
    (tmp_path / "x.dag").write_text(LANGUAGE)
    run = read_status(tmp_path / "x.dag", schedd=False)
    assert run.dag_status == "not-started" and len(run.nodes) == 10
    for node in run.nodes:
        assert explain(tmp_path / "x.dag", node, run).startswith(f"{node}: not-started")
    assert "waits for: S+Y (not-started)" in explain(tmp_path / "x.dag", "ext", run)
    with pytest.raises(SystemExit) as exit_:
        main(["graph", str(tmp_path / "x.dag"), "-o", str(tmp_path / "g.dot"), "--every-node"])
    assert exit_.value.code in (0, None) and '"S+X" -> "S+Y"' in (tmp_path / "g.dot").read_text()


def test_check_warns_of_the_splice_dagman_loses(tmp_path):
    """Seen on HTCondor 25.0.13: a splice in PARENT/CHILD is "Unknown Node" once the DAG also has an INCLUDE."""
    (tmp_path / "a.sub").write_text("executable = /bin/true\nqueue\n")
    (tmp_path / "pair.dag").write_text("JOB left a.sub\n")
    (tmp_path / "more.dag").write_text("JOB tail a.sub\n")
    dag = "JOB first a.sub\nSPLICE pair pair.dag\nPARENT first CHILD pair\n"
    (tmp_path / "x.dag").write_text(dag)
    assert check_run(tmp_path / "x.dag", submittable=False, htcondor_tools=False) == []
    (tmp_path / "x.dag").write_text("INCLUDE more.dag\n" + dag)
    (finding,) = check_run(tmp_path / "x.dag", submittable=False, htcondor_tools=False)
    assert finding.severity == "warning" and finding.where.endswith("x.dag:4") and "Unknown Node" in finding.message
