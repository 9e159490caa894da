"""The local executor on DAGs that `build` did not write: DAGMan's macros and language, or a refusal up front.

tests/condor/test_any_dag.py runs the same idiom DAG under real DAGMan and compares; these tests hold the executor
to what that comparison recorded, without a pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aframe_dag.cli.main import main
from aframe_dag.errors import UserError
from aframe_dag.local.executor import Executor
from tests.fixtures.idiom_dag import RUNS, attempts, make_idiom_dag, outputs


def run(dag: Path, **options) -> int:
    return Executor(dag, workers=options.pop("workers", 2), gpus=options.pop("gpus", ["0"]), poll=0.01).run()


def test_runs_a_dag_in_dagman_idiom(tmp_path):
    dag = make_idiom_dag(tmp_path)
    assert run(dag) == 0  # FINAL succeeded, so the DAG did (as DAGMan exits)
    found = attempts(tmp_path)  # also: each $(ClusterId) is the job id its nodes-log submit event names
    assert {node: len(found.get(node, [])) for node in RUNS} == RUNS
    assert found["flaky"] == ["flaky 0 flaky", "flaky 1 flaky"]  # $(JOB) and $(RETRY)
    assert found["summary"] == ["summary 0 final dag_status=2 failed=1"]
    assert outputs(tmp_path)["pair+left.out"] == "hello from pair+left\n"  # $(JOB) in output, splice names
    scripts = (tmp_path / "records" / "scripts.txt").read_text().splitlines()
    assert scripts == ["pre skipped 99 env=yes", "post setup 0 0 env=yes"]  # $JOB, $RETRY, $RETURN, ENV SET


def test_job_ids_never_repeat_across_runs(tmp_path):
    """$(Cluster) is the executor's job id, which a second run (a resume) does not hand out again."""
    dag = make_idiom_dag(tmp_path)
    run(dag)
    first = {int(p.read_text().split()[3].split("=")[1]) for p in (tmp_path / "records").glob("*-[0-9].txt")}
    for record in (tmp_path / "records").glob("*.txt"):
        record.unlink()
    run(dag)  # resumes from the rescue file: only bad, orphan and the FINAL node run again
    second = {int(p.read_text().split()[3].split("=")[1]) for p in (tmp_path / "records").glob("*-[0-9].txt")}
    assert second and not first & second and min(second) > max(first)


def test_vars_are_prepended_unless_appended(tmp_path):
    """DAGMan's default (DAGMAN_DEFAULT_APPEND_VARS = false): the submit file's own value wins over VARS."""
    (tmp_path / "echo.sub").write_text("executable = /bin/echo\nmode = fromsub\narguments = $(mode)\n"
                                       "output = $(JOB).out\nqueue\n")
    (tmp_path / "v.dag").write_text('JOB a echo.sub\nVARS a mode="fromvars"\nJOB b echo.sub\n'
                                    'VARS b APPEND mode="appended"\n')
    assert run(tmp_path / "v.dag") == 0
    assert [(tmp_path / f"{n}.out").read_text() for n in "ab"] == ["fromsub\n", "appended\n"]


def test_a_config_file_can_make_vars_append(tmp_path):
    (tmp_path / "echo.sub").write_text("executable = /bin/echo\nmode = fromsub\narguments = $(mode)\n"
                                       "output = $(JOB).out\nqueue\n")
    (tmp_path / "dagman.config").write_text("DAGMAN_DEFAULT_APPEND_VARS = True\n")
    (tmp_path / "v.dag").write_text('CONFIG dagman.config\nJOB a echo.sub\nVARS a mode="fromvars"\n')
    assert run(tmp_path / "v.dag") == 0
    assert (tmp_path / "a.out").read_text() == "fromvars\n"


def test_a_node_dir_holds_its_submit_file_and_runs_its_job(tmp_path):
    """JOB ... DIR d: the submit file is read from d, and d is the job's working directory."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "pwd.sub").write_text("executable = /bin/pwd\noutput = here.out\nqueue\n")
    (tmp_path / "d.dag").write_text("JOB a pwd.sub DIR work\n")
    assert run(tmp_path / "d.dag") == 0
    assert (tmp_path / "work" / "here.out").read_text().strip() == str(tmp_path / "work")


@pytest.mark.parametrize("line, said", [
    ("SUBDAG EXTERNAL inner inner.dag", "x.dag:3: SUBDAG EXTERNAL inner: only DAGMan runs it"),
    ("SERVICE watcher a.sub", "x.dag:3: SERVICE watcher: only DAGMan runs it"),
    ("PROVISIONER grow a.sub", "x.dag:3: PROVISIONER grow: only DAGMan runs it"),
    ("SCRIPT DEFER 4 30 PRE a /bin/true", r"x.dag:3: SCRIPT DEFER \(PRE a\): not supported here"),
    ("SCRIPT POST a /bin/true $EXIT_CODE", r"x.dag:3: SCRIPT POST a: DAGMan knows no macro \$EXIT_CODE"),
    ("REJECT", "x.dag:3: REJECT"),
    ("JOB b+c a.sub", r"x.dag:3: node name 'b\+c' contains '\+'"),
    ('VARS a mode="x"', r"node a \(.*a.sub\): no value for \$\(missing\)"),
    ("JOB q many.sub", "'queue 3' makes several jobs"),
])
def test_refuses_what_it_cannot_run_before_starting_anything(tmp_path, line, said):
    (tmp_path / "a.sub").write_text("executable = /bin/echo\narguments = $(JOB) $(missing)\nqueue\n")
    (tmp_path / "many.sub").write_text("executable = /bin/echo\nqueue 3\n")
    (tmp_path / "inner.dag").write_text("JOB i a.sub\n")
    (tmp_path / "x.dag").write_text(f'JOB a a.sub\nVARS a missing="given"\n{line}\n')
    if line.startswith("VARS"):
        (tmp_path / "x.dag").write_text(f"JOB a a.sub\n\n{line}\n")
    with pytest.raises(UserError, match=said):
        Executor(tmp_path / "x.dag")
    assert not list(tmp_path.glob("x.dag.*")) and not (tmp_path / ".aframe-run").exists()


def test_the_command_line_refuses_with_exit_2(tmp_path, capsys):
    (tmp_path / "a.sub").write_text("executable = /bin/echo\narguments = $(nothere)\nqueue\n")
    (tmp_path / "x.dag").write_text("JOB a a.sub\n")
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(tmp_path / "x.dag")])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "no value for $(nothere)" in error and "Traceback" not in error
