"""Commands that read a condor dir take it one way (issue 20, item 7); check and graph say what they did not do
(item 9)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from aframe_dag.cli.main import cli, main
from aframe_dag.prepost import main as pre_script
from aframe_dag.status import graph as graph_module
from tests.fixtures.fake_dag import Spec, make_run

CONDOR_DIR_COMMANDS = ["run", "status", "why", "resubmit", "invalidate", "stop", "attach", "clean", "node-check",
                       "check", "graph"]


@pytest.fixture
def condor(tmp_path):
    """A built two-node DAG (a -> b) for a personal pool (no accounting), nothing run."""
    condor = make_run(tmp_path, [Spec("a"), Spec("b", parents=["a"])])
    (condor / "run.ini.resolved").write_text("[condor]\nrequire_accounting = false\n")
    return condor


def run_main(capsys, *args) -> tuple[int, str, str]:
    """`aframe-dag ARGS` in this process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as ended:
        main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return ended.value.code, out, err


@pytest.mark.parametrize("command", CONDOR_DIR_COMMANDS)
def test_every_command_takes_the_condor_dir_the_same_way(command):
    text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    assert "--condor-dir DIR" in text and "$AFRAME_CONDOR_DIR" in text, text
    usage = text.splitlines()[0]
    assert usage.endswith("[CONDOR_DIR]") or usage.endswith("[CONDOR_DIR|DAG_FILE]"), usage


def test_node_check_takes_every_order_and_the_pre_script_keeps_its_own(condor, capsys, monkeypatch):
    expected = (0, "a: must run: no done-marker\n", "")
    assert run_main(capsys, "node-check", condor, "a") == expected  # the older order
    assert run_main(capsys, "node-check", "a", condor) == expected
    assert run_main(capsys, "node-check", "a", "--condor-dir", condor) == expected
    monkeypatch.setenv("AFRAME_CONDOR_DIR", str(condor))
    assert run_main(capsys, "node-check", "a") == expected
    assert run_main(capsys, "node-check", "a", "0123456789abcdef")[1] == "a: must run: no done-marker\n"
    with pytest.raises(SystemExit) as ended:  # DAGs in the field run `aframe-node-check CONDOR_DIR NODE HASH`
        pre_script([str(condor), "a", "0123456789abcdef"])
    assert ended.value.code == 0 and "a: runs: no done-marker" in capsys.readouterr().err


def test_a_condor_dir_given_before_the_node_is_taken_and_said(condor, capsys, monkeypatch):
    monkeypatch.delenv("AFRAME_CONDOR_DIR", raising=False)
    code, out, err = run_main(capsys, "invalidate", condor, "b")
    assert code == 0 and out.startswith("will rerun 1 node(s): b")
    assert err == f"aframe-dag: note: took {condor} as the condor dir and b as the node(s) (the condor dir goes " \
                  "last, or after --condor-dir)\n"
    code, out, err = run_main(capsys, "why", condor, "b")
    assert code == 0 and out.startswith("b: not-started") and "took" in err
    code, _, err = run_main(capsys, "invalidate", "a", condor / "x", "b")
    assert code == 2 and f"'{condor}/x' is a path, not a node name" in err
    code, _, err = run_main(capsys, "why", "b", condor, "--condor-dir", condor.parent)
    assert code == 2 and "two condor dirs" in err


def test_check_and_graph_default_to_the_environment(condor, capsys, monkeypatch):
    monkeypatch.setenv("AFRAME_CONDOR_DIR", str(condor))
    code, out, _ = run_main(capsys, "check", "--local", "--no-htcondor-tools")
    assert code == 0 and out.startswith(f"{condor}: 0 errors, 0 warnings")
    code, out, _ = run_main(capsys, "graph", "-o", condor / "g.dot")
    assert code == 0 and out == f"wrote {condor}/g.dot\n"
    monkeypatch.delenv("AFRAME_CONDOR_DIR")
    code, _, err = run_main(capsys, "status")
    assert code == 2 and "give the condor dir (CONDOR_DIR or --condor-dir), or set $AFRAME_CONDOR_DIR" in err


def test_check_reports_to_stderr_exits_2_and_says_what_it_skipped(tmp_path, capsys):
    (tmp_path / "aframe.dag").write_text("JOB a a.sub\nPARENT a CHILD b\n")
    code, out, err = run_main(capsys, "check", tmp_path, "--local", "--no-htcondor-tools")
    assert code == 2
    assert "error: aframe.dag:2: PARENT/CHILD names node 'b'" in err and "PARENT/CHILD" not in out
    assert out == (f"{tmp_path}: 2 errors, 0 warnings; condor_dag_checker and condor_submit -dry-run skipped "
                   "(--no-htcondor-tools)\n")


def test_check_says_when_htcondor_s_tools_are_not_installed(condor, capsys, monkeypatch):
    monkeypatch.setattr("aframe_dag.check.tools.shutil.which", lambda name: None)
    code, out, _ = run_main(capsys, "check", condor, "--local")
    assert code == 0 and out.endswith("; condor_dag_checker and condor_submit -dry-run skipped: not on PATH "
                                      "(HTCondor's tools are not installed here)\n")


def test_graph_without_graphviz_says_the_picture_was_not_made(condor, capsys, monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    code, out, err = run_main(capsys, "graph", condor, "-o", condor / "g.png")
    assert code == 2 and out == "" and not (condor / "g.png").exists() and (condor / "g.dot").is_file()
    assert f"{condor}/g.png not made: graphviz's `dot` is not installed here; wrote {condor}/g.dot instead" in err
    code, out, _ = run_main(capsys, "graph", condor)  # no picture asked for: the .dot, and why
    assert code == 0 and out.startswith(f"wrote {condor}/aframe-graph.dot, not aframe-graph.png: graphviz's `dot` "
                                        "is not installed here")
