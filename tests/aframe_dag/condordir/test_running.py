"""Who runs a DAG now: DAGMan jobs matched by the DAG file they run (job ads as the personal pool's schedd gave
them), DAGMan's POSIX lock on aframe.dag.lock, and the words `resubmit`, `invalidate`, `build` and `clean` refuse
with (issue 18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aframe_dag.condordir import running
from aframe_dag.condordir.running import (
    dag_paths,
    dagman_lock_held,
    dagmans_running,
    holder_words,
    refuse_while_running,
    running_reason,
)
from aframe_dag.errors import UserError

ARGUMENTS = "-f -l . -Lockfile {dag}.lock -Dag {dag} -CsdVersion $CondorVersion:' '25.0.13' '2026-11-25' '$ " \
            "-dagman /pool/release/bin/condor_dagman -AutoRescue 1 -DoRescueFrom 0"


def dagman_ad(cluster: int, iwd: Path, dag: str, batch: str = "micro", status: int = 2) -> dict:
    """A DAGMan job ad as `condor_submit_dag DAG` run in `iwd` leaves it (DAG as typed there)."""
    return {"ClusterId": cluster, "ProcId": 0, "JobStatus": status, "JobUniverse": 7, "JobBatchName": batch,
            "Iwd": str(iwd), "Arguments": ARGUMENTS.format(dag=dag), "UserLog": f"{iwd}/{dag}.dagman.log"}


@pytest.fixture
def runs(tmp_path) -> dict[str, Path]:
    """Two runs' condor dirs and a directory DAGs are submitted from."""
    made = {name: tmp_path / name for name in ("mine/condor", "theirs/condor", "elsewhere")}
    for path in made.values():
        path.mkdir(parents=True)
    return made


def test_a_dagman_job_is_found_by_its_dag_file_from_any_directory(runs):
    dag = runs["mine/condor"] / "aframe.dag"
    relative = dagman_ad(40, runs["elsewhere"], "../mine/condor/aframe.dag")
    absolute = dagman_ad(41, runs["elsewhere"], str(dag))
    inside = dagman_ad(42, runs["mine/condor"], "aframe.dag")
    assert dag_paths(relative) == [f"{runs['elsewhere']}/../mine/condor/aframe.dag"]
    assert dagmans_running(dag, [relative, absolute, inside]) == [relative, absolute, inside]


def test_another_runs_dag_with_the_same_batch_name_does_not_match(runs):
    dag = runs["mine/condor"] / "aframe.dag"
    theirs = dagman_ad(43, runs["elsewhere"], "../theirs/condor/aframe.dag", batch="micro")
    same_dir = dagman_ad(44, runs["mine/condor"], "../../theirs/condor/aframe.dag", batch="micro")
    node = {"ClusterId": 45, "JobUniverse": 5, "JobBatchName": "micro", "Iwd": str(runs["mine/condor"]),
            "DAGManJobId": 40, "Arguments": f"-Dag {dag}"}
    assert dagmans_running(dag, [theirs, same_dir, node]) == []


def test_the_user_log_names_the_dag_when_the_arguments_do_not(runs):
    dag = runs["mine/condor"] / "aframe.dag"
    ad = {"ClusterId": 46, "JobUniverse": 7, "Iwd": str(runs["elsewhere"]),
          "UserLog": f"{runs['elsewhere']}/../mine/condor/aframe.dag.dagman.log"}
    assert dagmans_running(dag, [ad]) == [ad]


def test_a_path_with_spaces_is_one_argument(tmp_path):
    condor = tmp_path / "my runs" / "condor"
    ad = {"ClusterId": 47, "JobUniverse": 7, "Iwd": str(tmp_path), "Arguments": "-f -Dag 'my runs/condor/aframe.dag'"}
    assert dagmans_running(condor / "aframe.dag", [ad]) == [ad]


def test_the_refusal_names_the_dagman_job_where_it_was_submitted_and_its_batch(runs, monkeypatch):
    condor = runs["mine/condor"]
    monkeypatch.setattr(running, "schedd_jobs", lambda _: [dagman_ad(40, Path("/x"), str(condor / "aframe.dag"),
                                                                     batch="y")])
    assert running_reason(condor) == ("DAGMan job 40 is running this DAG (submitted from /x, batch name y): wait "
                                      "for it or condor_rm 40 first")
    with pytest.raises(UserError) as refused:
        refuse_while_running(condor, "resubmit")
    assert refused.value.exit_code == 2
    assert str(refused.value) == (f"{condor}: cannot resubmit while the DAG is still running: DAGMan job 40 is "
                                  "running this DAG (submitted from /x, batch name y): wait for it or condor_rm 40 "
                                  "first; nothing changed")
    monkeypatch.setattr(running, "schedd_jobs", lambda _: [dagman_ad(41, Path("/x"), "aframe.dag", status=5)])
    assert running_reason(condor).startswith("DAGMan job 41 is running this DAG (held, submitted from /x, batch")


def test_nothing_runs_the_dag_when_the_schedd_knows_no_dagman_for_it(runs, monkeypatch):
    monkeypatch.setattr(running, "schedd_jobs", lambda _: [])
    assert running_reason(runs["mine/condor"]) is None
    refuse_while_running(runs["mine/condor"], "resubmit")


LOCKER = """import fcntl, os, sys, time
handle = open(sys.argv[1], "w")
fcntl.lockf(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_dagman_holding_its_lock_file_runs_the_dag_when_no_schedd_answers(runs, monkeypatch):
    """DAGMan keeps a POSIX write lock on its (empty) aframe.dag.lock while it runs; its job id is in its user log."""
    condor = runs["mine/condor"]
    monkeypatch.setattr(running, "schedd_jobs", lambda _: None)
    (condor / "aframe.dag.dagman.log").write_text("000 (007.000.000) 2026-12-07 01:51:01 Job submitted from host: <>\n"
                                                  "...\n000 (012.000.000) 2026-12-07 02:00:00 Job submitted from\n")
    (condor / "aframe.dag.lock").write_text("")
    notes: list[str] = []
    assert not dagman_lock_held(condor) and running_reason(condor, notes) is None
    assert "aframe.dag.lock exists and no schedd answered" in notes[0]
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, condor / "aframe.dag.lock"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert locker.stdout.readline() == "locked\n"
        assert dagman_lock_held(condor)
        assert running_reason(condor) == (f"a DAGMan (job 12 in aframe.dag.dagman.log) holds {condor}/aframe.dag.lock:"
                                          " wait for it or condor_rm 12 first")
    finally:
        locker.kill()
        locker.wait()
    assert not dagman_lock_held(condor)


def test_holder_words_leave_out_what_the_record_lacks():
    assert holder_words({}) == "an unknown process"
    assert holder_words({"pid": 12, "host": "x"}) == "pid 12 on host x"
    assert holder_words({"pid": 12, "started": 0.0}).startswith("pid 12, started 19")  # another day: its date
