"""`status`, `why` and `resubmit` read a run from its files: DAGMan's recorded ones, done-markers, locks.

The recorded files come from real DAGMan runs on the personal pool (tests/data/dagman/*/README.md). The test marked
``condor`` records ``success-held`` again with ``AFRAME_DAG_RECORD_FIXTURES=1`` and checks ``status`` against
DAGMan's own node status file and against the live schedd.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aframe_dag.cli.inspect import resubmit as resubmit_command
from aframe_dag.cli.inspect import status as status_command
from aframe_dag.cli.inspect import why as why_command
from aframe_dag.errors import UserError
from aframe_dag.lifecycle.resubmit import resubmit_plan
from aframe_dag.names import LOCAL_LOCK
from aframe_dag.status import merge as status_module
from aframe_dag.status.merge import read_status, watch
from aframe_dag.status.text import format_status
from aframe_dag.status.why import explain
from executables.common.markers import write_done_marker

DAGMAN = Path(__file__).resolve().parents[2] / "data" / "dagman"
FAILED = DAGMAN / "failed-retry"
SUCCESS = DAGMAN / "success-held"
NO_SCHEDD = {"CONDOR_CONFIG": "ONLY_ENV"}  # an HTCondor configuration that names no pool


def write_sub(directory: Path, name: str, script: str, arguments: str, extra: str = "") -> None:
    """A submit file like the ones the recorded DAG ran (tests/condor/test_pool_smoke.py)."""
    (directory / name).write_text(textwrap.dedent(f"""\
        executable = {script}
        arguments = "{arguments}"
        should_transfer_files = NO
        output = logs/$(nodename).out
        error = logs/$(nodename).err
        request_cpus = 1
        request_memory = 100MB
        """) + extra + "queue\n")


@pytest.fixture
def failed_run(tmp_path) -> Path:
    """The recorded failed DAG in a condor dir of its own, with its submit files, a stderr file and a run name."""
    condor = tmp_path / "condor"
    shutil.copytree(FAILED, condor)
    for name, script in [("fail", "fail.sh"), ("flaky", "flaky.sh"), ("node", "node.sh")]:
        write_sub(condor, f"{name}.sub", script, "$(nodename)")
    write_sub(condor, "summary.sub", "summary.sh", "$(dag_status) $(failed_count)")
    (condor / "logs").mkdir()
    lines = [f"stderr line {i}" for i in range(1, 41)] + ["ValueError: background.hdf5: [data] ifos: no H2 here"]
    (condor / "logs" / "background-0.err").write_text("\n".join(lines) + "\n")
    (condor / "run.ini.resolved").write_text("[run]\nname = failed-retry\nseed = ${data:seed}\n")
    return condor


def run_cli(command, *args: str, env: dict | None = None):
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=True)


# -- status -----------------------------------------------------------------------------------------------------------


def test_status_of_recorded_failed_run(failed_run):
    run = read_status(failed_run, schedd=False)
    assert run.dag_status == "failed" and run.finished and run.name == "failed-retry"
    background, waveforms = run.nodes["background-0"], run.nodes["waveforms-0"]
    assert (background.status, background.exit_code, background.retries, background.max_retries) == ("failed", 2, 0, 2)
    assert background.host == "slot1_1@vm" and background.job == "6.0"
    assert (waveforms.status, waveforms.retries, waveforms.exit_code) == ("done", 1, 0)
    assert run.nodes["train"].status == "not-ready"
    assert run.nodes["summary"].status == "failed" and run.nodes["summary"].final
    totals = run.totals()
    assert (totals.done, totals.failed, totals.waiting, totals.total, totals.retries) == (1, 2, 1, 4, 1)
    assert [row.stage for row in run.stages()] == ["fail", "flaky", "node", "summary"]
    assert run.rescue == failed_run / "aframe.dag.rescue001"


def test_status_table_says_what_failed(failed_run):
    result = run_cli(status_command, str(failed_run), "--nodes")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    assert "failed" in lines["background-0"] and "exit 2" in lines["background-0"]
    assert "0 of 2 retries" in lines["background-0"]
    assert "done" in lines["waveforms-0"] and "1 of 2 retries" in lines["waveforms-0"]
    assert "not-ready" in lines["train"]
    assert lines["total"].split()[1:7] == ["1", "0", "0", "0", "2", "1"]  # done running idle held failed waiting
    assert f"{failed_run}: failed" in result.output
    assert "1/4 done (25%)" in result.output
    assert f"aframe-dag why background-0 {failed_run}" in result.output


def test_status_without_nodes_lists_only_what_needs_a_look(failed_run):
    text = format_status(read_status(failed_run, schedd=False))
    assert "background-0" in text and "waveforms-0" not in text and "train" not in text.split("failed:")[1]


def test_status_json_parses(failed_run):
    result = run_cli(status_command, str(failed_run), "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["dag_status"] == "failed" and state["finished"] is True
    assert state["nodes"]["background-0"]["exit_code"] == 2
    assert state["nodes"]["waveforms-0"]["retries"] == 1
    assert state["totals"]["total"] == 4
    assert {row["stage"] for row in state["stages"]} == {"fail", "flaky", "node", "summary"}


def test_condor_dir_defaults_to_the_environment(failed_run):
    assert "background-0" in run_cli(status_command, env={"AFRAME_CONDOR_DIR": str(failed_run)}).output
    result = run_cli(status_command, env={"AFRAME_CONDOR_DIR": ""})
    assert isinstance(result.exception, UserError) and "AFRAME_CONDOR_DIR" in str(result.exception)


def test_watch_on_a_finished_dag_draws_once(failed_run):
    result = run_cli(status_command, str(failed_run), "--watch")
    assert result.exit_code == 0 and result.output.count("1/4 done") == 1


# -- done-markers alone ----------------------------------------------------------------------------------------------


@pytest.fixture
def marked_run(tmp_path) -> Path:
    """A built-but-never-run condor dir: a DAG whose nodes pass --node-hash, two done-markers, no DAGMan files."""
    condor = tmp_path / "condor"
    (condor / "done").mkdir(parents=True)
    lines = []
    for name in ["background-0", "background-1", "train"]:
        args = f"--output {tmp_path}/{name}.hdf5 --node {name} --node-hash hash-{name}"
        lines += [f"JOB {name} {condor}/{name.split('-')[0]}.sub", f'VARS {name} node="{name}" nodeargs="{args}"',
                  f"RETRY {name} 2 UNLESS-EXIT 2"]
    lines += ["PARENT background-0 background-1 CHILD train", f"FINAL summary {condor}/summary.sub",
              f"NODE_STATUS_FILE {condor}/aframe.status 30 ALWAYS-UPDATE"]
    (condor / "aframe.dag").write_text("\n".join(lines) + "\n")
    for name, node_hash in [("background-0", "hash-background-0"), ("background-1", "stale-hash")]:
        output = tmp_path / f"{name}.hdf5"
        output.write_bytes(b"strain")
        write_done_marker(condor / "done" / f"{name}.json", name, [output], node_hash)
    return condor


def test_done_markers_alone_make_nodes_done(marked_run):
    run = read_status(marked_run, schedd=False)
    assert run.nodes["background-0"].status == "done" and run.nodes["background-0"].source == "done-marker"
    assert run.nodes["background-1"].status == "not-started"  # its marker's hash is not the DAG's
    assert run.nodes["train"].status == "not-started" and run.nodes["summary"].status == "not-started"
    assert run.dag_status == "not-started" and not run.finished
    assert "finished" in explain(marked_run, "background-0", run)
    assert "waits for: background-1 (not-started)" in explain(marked_run, "train", run)


def test_watch_redraws_until_the_dag_is_done(marked_run, tmp_path):
    drawn = []

    def finish_everything(_seconds) -> None:  # what the nodes would do between two redraws
        for name in ["background-1", "train", "summary"]:
            output = tmp_path / f"{name}.hdf5"
            output.write_bytes(b"x")
            write_done_marker(marked_run / "done" / f"{name}.json", name, [output], f"hash-{name}")

    last = watch(marked_run, drawn.append, interval=0.01, sleep=finish_everything)
    assert [run.dag_status for run in drawn] == ["not-started", "done"] and last.finished


# -- why --------------------------------------------------------------------------------------------------------------


def test_why_failed_node_gives_exit_code_command_host_and_stderr_tail(failed_run):
    result = run_cli(why_command, "background-0", str(failed_run))
    assert result.exit_code == 0, result.output
    text = result.output
    assert "background-0: failed" in text
    assert "exit code: 2 (permanent failure" in text and "UNLESS-EXIT 2: not retried" in text
    assert "retries: 0 of 2 used" in text
    assert "command: fail.sh background-0" in text
    assert "host slot1_1@vm" in text and "no GPU" in text
    assert "Job proc (6.0.0) failed with status 2" in text
    stderr = text.split("last 30 lines):\n")[1].splitlines()
    assert len(stderr) == 30 and stderr[0].strip() == "stderr line 12"
    assert stderr[-1].strip() == "ValueError: background.hdf5: [data] ifos: no H2 here"


def test_why_waiting_and_done_nodes(failed_run):
    assert "waits for: background-0 (failed)" in explain(failed_run, "train")
    done = explain(failed_run, "waveforms-0")
    assert "waveforms-0: done" in done and "1 of 2 retries" in done


def test_why_says_which_limit_of_the_periodic_remove_removed_a_held_job(tmp_path):
    """Issue 20 (item 4): a job held for ever is removed by its periodic_remove (recorded from DAGMan), and `why`
    says whether it was held too long or held again after its last release, and that DAGMan retried it."""
    shutil.copytree(DAGMAN / "periodic-remove", tmp_path / "hold")
    stuck = explain(tmp_path / "hold" / "hold.dag", "stuck")
    assert "stuck: failed" in stuck and "retries: 1 of 1 used" in stuck
    too_long = "removed: by its periodic_remove after 11 s held (no release applies to its hold"
    assert too_long in stuck and stuck.count(too_long) == 3  # the node, and each of its two jobs
    flappy = explain(tmp_path / "hold" / "hold.dag", "flappy")
    assert "removed: by its periodic_remove: held again after its 3 releases were used up" in flappy


def test_why_unknown_node_is_a_user_error(failed_run):
    with pytest.raises(UserError, match="did you mean 'waveforms-0'"):
        explain(failed_run, "waveforms-1")


# -- resubmit ---------------------------------------------------------------------------------------------------------


def test_resubmit_refuses_while_the_local_executor_holds_its_lock(failed_run):
    lock = failed_run / LOCAL_LOCK
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": os.getpid(), "host": "here"}))
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UserError, match=f"cannot resubmit while the DAG is still running: the local executor "
                                            f"\\(pid {os.getpid()} on host here\\)"):
            resubmit_plan(failed_run)
        assert read_status(failed_run, schedd=False).dag_status == "running"
    plan = resubmit_plan(failed_run)  # the lock file stays, but nobody holds it: a crashed executor
    assert plan.rescue == failed_run / "aframe.dag.rescue001" and plan.done == {"waveforms-0"}


def test_a_running_status_file_left_by_a_dead_local_executor_is_stopped(failed_run):
    """kill -9 of `aframe-dag run`: its status file still says running, but nobody holds its lock."""
    status = failed_run / "aframe.status"
    text = status.read_text().replace("DagStatus = 6;", "DagStatus = 3;")
    text = text.replace('NodeStatus = 0; /* "STATUS_NOT_READY" */\n  StatusDetails = "";',
                        'NodeStatus = 3; /* "STATUS_SUBMITTED" */\n  StatusDetails = "not_idle";')
    status.write_text(text)
    lock = failed_run / LOCAL_LOCK
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": os.getpid(), "host": "here"}))
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        live = read_status(failed_run, schedd=False)
        assert live.dag_status == "running" and live.nodes["train"].status == "running"
    dead = read_status(failed_run, schedd=False)
    assert dead.dag_status == "stopped" and dead.finished
    assert any("local executor that ran it is gone" in note for note in dead.notes)


def test_resubmit_refuses_a_rescue_file_naming_nodes_the_dag_lacks(failed_run):
    dag = failed_run / "aframe.dag"
    dag.write_text(dag.read_text().replace("waveforms-0", "waveforms-1"))  # a rebuild renamed the node
    with pytest.raises(UserError, match="no longer has \\(waveforms-0\\)"):
        resubmit_plan(failed_run)


def test_resubmit_from_a_rescue_file_that_does_not_exist(failed_run):
    with pytest.raises(UserError, match="no rescue file number 2 \\(there are: 1\\)"):
        resubmit_plan(failed_run, from_number=2)


def test_resubmit_without_a_schedd_fails_and_says_what_to_do(failed_run):
    """Issue 20 (item 3): no schedd is an error (exit 2) that names the command for an access point and `run`."""
    env = {**os.environ, **NO_SCHEDD}
    result = subprocess.run([sys.executable, "-m", "aframe_dag.cli.main", "resubmit", str(failed_run), "--from", "1"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "aframe.dag.rescue001 (-DoRescueFrom 1): 1 of 4 nodes DONE" in result.stdout
    assert result.stderr.startswith("aframe-dag: error: ") and len(result.stderr.splitlines()) == 1
    assert "not submitted: this machine is not an HTCondor access point" in result.stderr
    assert f"`condor_submit_dag -batch-name failed-retry -DoRescueFrom 1 {failed_run}/aframe.dag`" in result.stderr
    assert f"`aframe-dag run {failed_run}`" in result.stderr
    assert not (failed_run / "aframe.dag.condor.sub").exists()


def test_resubmit_command_reports_refusal_as_user_error(failed_run):
    (failed_run / "aframe.dag.rescue001").unlink()
    result = run_cli(resubmit_command, str(failed_run), "--from", "1")
    assert isinstance(result.exception, UserError) and "there are: none" in str(result.exception)


# -- recorded success with a retry and a hold ------------------------------------------------------------------------


def test_status_of_recorded_successful_run_with_retry_and_hold(tmp_path):
    condor = tmp_path / "condor"
    shutil.copytree(SUCCESS, condor)
    run = read_status(condor, schedd=False)
    assert run.dag_status == "done" and run.finished
    assert {node.status for node in run.nodes.values()} == {"done"}
    assert run.nodes["flaky"].retries == 1 and run.nodes["flaky"].exit_code == 0
    assert run.nodes["sleeper"].holds == 1 and run.nodes["sleeper"].retries == 0
    assert run.nodes["gpu"].gpus.startswith("GPU-") and run.nodes["after"].gpus is None
    assert run.nodes["sleeper"].host.startswith("slot1_")
    assert "held 1x before" in format_status(run, every_node=True)
    assert "held 1 time(s) and released" in explain(condor, "sleeper", run)



def submitted_in_status_file(condor: Path, node: str, retries: int | None = None) -> None:
    """Rewrite the node's line of the status file as DAGMan wrote it while the node's job was queued."""
    status = condor / "aframe.status"
    text = status.read_text()
    start = text.index(f'Node = "{node}";')
    end = text.index("]", start)
    ad = re.sub(r"NodeStatus = \d+;[^\n]*", "NodeStatus = 3;", text[start:end])
    ad = re.sub(r'StatusDetails = "[^"]*";', 'StatusDetails = "not_idle";', ad)
    if retries is not None:
        ad = re.sub(r"RetryCount = \d+;", f"RetryCount = {retries};", ad)
    status.write_text(text[:start] + ad + text[end:])


@pytest.mark.parametrize("fixture, node, expected", [(SUCCESS, "after", ("done", 0, 0)),
                                                     (FAILED, "background-0", ("failed", 2, 0)),
                                                     (SUCCESS, "flaky", ("done", 0, 1))])
def test_a_job_that_ended_since_dagman_last_wrote_the_status_file(tmp_path, fixture, node, expected):
    """DAGMan rewrites the status file every 30 s: one that still says submitted, with no retry yet, yields to the
    job's end and to the retries in the log."""
    condor = tmp_path / "condor"
    shutil.copytree(fixture, condor)
    submitted_in_status_file(condor, node, retries=0)
    state = read_status(condor, schedd=False).nodes[node]
    assert (state.status, state.exit_code, state.retries) == expected and state.source == "status file"


@pytest.mark.parametrize("logged", [True, False])
def test_a_retry_in_the_queue_beats_a_status_file_line_written_before_it(tmp_path, monkeypatch, logged):
    """flaky's first job (3.0) failed and DAGMan's retry, job 4.0, runs; the status file still counts no retry (it
    is rewritten every 30 s). Its DAGMan job was submitted from another directory (issue 18): `status` shows 4.0
    running with one retry at once, whether or not the node log has 4.0's submit event yet."""
    condor = tmp_path / "condor"
    shutil.copytree(SUCCESS, condor)
    log = condor / "aframe.dag.nodes.log"
    text = log.read_text()
    retry = text.index("000 (004.000.000)")
    log.write_text(text[:text.index("...\n", retry) + 4 if logged else retry])
    submitted_in_status_file(condor, "flaky", retries=0)
    dagman = {"ClusterId": 1, "ProcId": 0, "JobUniverse": 7, "JobStatus": 2, "Iwd": str(tmp_path / "elsewhere")}
    job = {"ClusterId": 4, "ProcId": 0, "JobUniverse": 5, "JobStatus": 2, "DAGManJobId": 1, "DAGNodeName": "flaky",
           "RemoteHost": "slot1_2@vm"}
    monkeypatch.setattr(status_module, "schedd_jobs", lambda _: [dagman, job])
    run = read_status(condor)
    flaky = run.nodes["flaky"]
    assert (flaky.status, flaky.source, flaky.job, flaky.retries) == ("running", "schedd", "4.0", 1)
    assert (flaky.exit_code, flaky.end, flaky.host) == (None, None, "slot1_2@vm")
    assert run.live and run.dag_status == "running"


# -- against a real DAGMan -------------------------------------------------------------------------------------------

STATUS_JSON = "import sys; from aframe_dag.cli.inspect import status; status.main(sys.argv[1:])"
RESUBMIT = "import sys; from aframe_dag.cli.inspect import resubmit; resubmit.main(sys.argv[1:])"


def _live_status(pool, condor: Path) -> dict:
    result = pool.run([sys.executable, "-c", STATUS_JSON, condor, "--json"], cwd=condor, timeout=30)
    return json.loads(result.stdout)


def _wait_for(pool, condor: Path, predicate, what: str, timeout: float = 40.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = _live_status(pool, condor)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}; last status: {json.dumps(state)[:2000]}\n"
                                 + pool.dagman_out_tail(condor / "aframe.dag"))
        time.sleep(0.5)


@pytest.mark.condor
def test_status_agrees_with_dagman_and_the_live_schedd(condor_pool, pool_dir):
    """A retry and a hold/release under the real DAGMan: `status` shows the running node from the schedd, the hold
    with its reason, refuses `resubmit` while DAGMan runs, and agrees with DAGMan's node status file at the end."""
    import classad2

    condor = pool_dir
    (condor / "logs").mkdir()
    scripts = {
        # the hold ends the first start; the start after the release need not sleep again
        "sleep.sh": 'echo "working on $1" >&2\nif [ -e "$1.held-once" ]; then exit 0; fi\n: > "$1.held-once"\n'
                    'sleep "$2"\n',
        "flaky.sh": 'if [ -e "$1.failed-once" ]; then exit 0; fi\n: > "$1.failed-once"\necho transient >&2\nexit 1\n',
        "node.sh": 'echo "$1" > "$1.txt"\n',
    }
    for name, body in scripts.items():
        (condor / name).write_text("#!/bin/sh\n" + body)
        (condor / name).chmod(0o755)
    write_sub(condor, "sleep.sub", "sleep.sh", "$(nodename) $(secs)")
    write_sub(condor, "flaky.sub", "flaky.sh", "$(nodename)")
    write_sub(condor, "node.sub", "node.sh", "$(nodename)")
    write_sub(condor, "gpu.sub", "node.sh", "$(nodename)", extra="request_gpus = 1\n")
    (condor / "aframe.dag").write_text(textwrap.dedent("""\
        JOB sleeper sleep.sub
        VARS sleeper nodename="sleeper" secs="60"
        RETRY sleeper 2 UNLESS-EXIT 2
        JOB flaky flaky.sub
        VARS flaky nodename="flaky"
        RETRY flaky 2 UNLESS-EXIT 2
        JOB after node.sub
        VARS after nodename="after"
        PARENT flaky CHILD after
        JOB gpu gpu.sub
        VARS gpu nodename="gpu"
        PARENT after CHILD gpu
        NODE_STATUS_FILE aframe.status 1 ALWAYS-UPDATE
        """))
    (condor / "run.ini.resolved").write_text("[run]\nname = status-live\n")
    condor_pool.own(condor)
    condor_pool.submit_dag(condor / "aframe.dag", "-batch-name", "status-live")

    running = _wait_for(condor_pool, condor, lambda s: s["nodes"]["sleeper"]["status"] == "running",
                        "sleeper runs")
    assert running["live"] and running["dag_status"] == "running"
    refused = condor_pool.run([sys.executable, "-c", RESUBMIT, condor], cwd=condor, check=False)
    assert refused.returncode != 0 and "still running" in refused.stderr + refused.stdout
    cluster = running["nodes"]["sleeper"]["job"].split(".")[0]
    condor_pool.run(["condor_hold", cluster])
    held = _wait_for(condor_pool, condor, lambda s: s["nodes"]["sleeper"]["status"] == "held", "sleeper is held")
    assert "condor_hold" in held["nodes"]["sleeper"]["hold_reason"]
    condor_pool.run(["condor_release", cluster])
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=90) == 0

    run = read_status(condor, schedd=False)
    ads = classad2.parseAds((condor / "aframe.status").read_text())
    dagman = {ad["Node"]: ad for ad in ads if ad.get("Type") == "NodeStatus"}
    assert set(dagman) == set(run.nodes)
    for name, ad in dagman.items():
        assert (ad["NodeStatus"], ad["RetryCount"]) == (5, run.nodes[name].retries), name
        assert run.nodes[name].status == "done"
    assert run.dag_status == "done"
    assert run.nodes["flaky"].retries == 1 and run.nodes["sleeper"].holds == 1
    assert run.nodes["gpu"].gpus.startswith("GPU-") and run.nodes["after"].gpus is None
    if os.environ.get("AFRAME_DAG_RECORD_FIXTURES", "") not in ("", "0"):
        _record(condor)


def _record(condor: Path) -> None:
    """Copy what DAGMan wrote into tests/data/dagman/success-held/ (its README stays)."""
    SUCCESS.mkdir(exist_ok=True)
    for name in ["aframe.dag", "aframe.status", "aframe.dag.nodes.log", "aframe.dag.dagman.out",
                 "aframe.dag.metrics", "sleep.sub", "flaky.sub", "node.sub", "gpu.sub"]:
        shutil.copyfile(condor / name, SUCCESS / name)


def test_a_failed_run_says_how_to_continue_it_with_what_ran_it(failed_run):
    assert f"continue once fixed: aframe-dag resubmit {failed_run}" in format_status(read_status(failed_run,
                                                                                                    schedd=False))
    lock = failed_run / ".aframe-run" / "lock"
    lock.parent.mkdir()
    lock.write_text("")  # the local executor ran it last (its lock is newer than dagman.out)
    assert f"continue once fixed: aframe-dag run {failed_run}" in format_status(read_status(failed_run, schedd=False))
    assert f"then `aframe-dag run {failed_run}`" in explain(failed_run, "train", read_status(failed_run, schedd=False))


def test_a_schedd_that_runs_none_of_the_dag_is_not_called_live(failed_run, monkeypatch):
    """An answering schedd with no DAGMan job for this DAG: the run is read from its files, not "live"."""
    monkeypatch.setattr(status_module, "schedd_jobs", lambda _: [])
    run = read_status(failed_run)
    assert not run.live and "live from the schedd" not in format_status(run)
