"""The local executor runs `should_transfer_files = YES` jobs as HTCondor 25.0.13 was seen running them
(aframe_dag/local/transfer.py): in a fresh sandbox holding only their inputs, with outputs brought back through
transfer_output_remaps. tests/condor/test_transfer_parity.py runs one such DAG under DAGMan too."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aframe_dag.errors import UserError
from aframe_dag.lifecycle.clean import scratch_plan
from aframe_dag.local.executor import Executor
from aframe_dag.local.records import DONE, ERROR
from aframe_dag.local.transfer import SANDBOXES

OLD = 1577836800  # 2020-01-01: a file's mtime that transfer must not keep


def job(directory: Path, name: str, script: str, transfer: str, more: str = "") -> str:
    """A submit file whose job runs the sh `script` with file transfer; returns its JOB line."""
    program = directory / "bin" / f"{name}.sh"
    program.parent.mkdir(exist_ok=True)
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    (directory / f"{name}.sub").write_text(
        f"executable = {program}\ntransfer_executable = false\nshould_transfer_files = YES\n"
        f"when_to_transfer_output = ON_EXIT\n{transfer}\n{more}\n"
        f"output = logs/{name}.out\nerror = logs/{name}.err\nlog = logs/{name}.log\nqueue\n")
    return f"JOB {name} {name}.sub\n"


def run(directory: Path, *lines: str) -> Executor:
    (directory / "t.dag").write_text("".join(lines))
    executor = Executor(directory / "t.dag", workers=2, poll=0.01)
    executor.run()
    return executor


def access_point(directory: Path) -> Path:
    """Files on the 'access point': a file (mode 750, an old mtime), a directory tree, one more file."""
    ap = directory / "ap"
    (ap / "dir" / "sub").mkdir(parents=True)
    (ap / "file.txt").write_text("hello\n")
    (ap / "file.txt").chmod(0o750)
    os.utime(ap / "file.txt", (OLD, OLD))
    (ap / "dir" / "d.txt").write_text("d\n")
    (ap / "dir" / "sub" / "s.txt").write_text("s\n")
    (ap / "url.txt").write_text("u\n")
    return ap


def no_sandboxes(directory: Path) -> bool:
    root = directory / SANDBOXES
    return not root.exists() or not list(root.iterdir())


def test_inputs_land_at_the_sandbox_top_by_basename(tmp_path):
    ap = access_point(tmp_path)
    script = "l=$(find . | sort); echo \"$l\" > listing; pwd > where; env > env; stat -c '%a %Y' file.txt > stat"
    inputs = f"transfer_input_files = ap/file.txt, {ap}/dir, ap/dir/, file://{ap}/url.txt"
    executor = run(tmp_path, job(tmp_path, "a", script, inputs + "\ntransfer_output_files = listing, where, env, stat"))
    assert executor.records["a"].state == DONE
    assert (tmp_path / "listing").read_text().split() == [
        ".", "./d.txt", "./dir", "./dir/d.txt", "./dir/sub", "./dir/sub/s.txt", "./file.txt", "./sub", "./sub/s.txt",
        "./url.txt"]  # `dir` with its tree, `dir/` its contents, the URL by its basename
    sandbox = (tmp_path / "where").read_text().strip()
    assert Path(sandbox).parent == tmp_path / SANDBOXES
    scratch = {line.split("=", 1)[0] for line in (tmp_path / "env").read_text().splitlines()
               if line.endswith("=" + sandbox)}
    assert {"_CONDOR_SCRATCH_DIR", "TMPDIR", "TMP", "TEMP"} <= scratch
    mode, mtime = (tmp_path / "stat").read_text().split()
    assert mode == "750" and int(mtime) > OLD  # mode kept, mtime the time of transfer
    assert no_sandboxes(tmp_path)


def test_a_job_reads_nothing_that_was_not_transferred(tmp_path):
    """The isolation check: the job's relative read of an access-point file it was not given fails."""
    access_point(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the job\n")
    executor = run(tmp_path, job(tmp_path, "a", "cat secret.txt", "transfer_input_files = ap/file.txt"))
    assert executor.records["a"].state == ERROR
    assert "secret.txt: No such file or directory" in (tmp_path / "logs" / "a.err").read_text()


def test_a_job_writing_into_an_input_leaves_the_access_points_file_alone(tmp_path):
    ap = access_point(tmp_path)
    executor = run(tmp_path, job(tmp_path, "a", "echo changed >> file.txt", "transfer_input_files = ap/file.txt\n"
                                 "transfer_output_files ="))
    assert executor.records["a"].state == DONE
    assert (ap / "file.txt").read_text() == "hello\n"


def test_http_inputs_are_fetched(tmp_path):
    ap = access_point(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ap))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/url.txt"
        executor = run(tmp_path, job(tmp_path, "a", "cp url.txt got.txt", f"transfer_input_files = {url}\n"
                                     "transfer_output_files = got.txt"))
    finally:
        server.shutdown()
    assert executor.records["a"].state == DONE
    assert (tmp_path / "got.txt").read_text() == "u\n"


def test_outputs_follow_their_remaps_the_most_specific_first(tmp_path):
    (tmp_path / "res" / "A").mkdir(parents=True)
    (tmp_path / "res" / "A" / "keep").write_text("was there\n")
    script = ("mkdir -p out/training out/deep; echo x > out/x.hdf5; echo t > out/training/t; echo o > out/other; "
              "echo y > out/deep/y; echo top > top.txt; touch -d 2020-01-01 out/other")
    remaps = 'transfer_output_remaps = "out = res/A ; out/x.hdf5=res/B.hdf5; out/training = res/T"'
    executor = run(tmp_path, job(tmp_path, "a", script, "transfer_output_files = out, top.txt", remaps))
    assert executor.records["a"].state == DONE
    landed = sorted(str(path.relative_to(tmp_path / "res")) for path in (tmp_path / "res").rglob("*")
                    if path.is_file())
    assert landed == ["A/deep/y", "A/keep", "A/other", "B.hdf5", "T/t"]  # A is merged into, not replaced
    assert (tmp_path / "top.txt").read_text() == "top\n"  # no remap: the initialdir
    assert (tmp_path / "res" / "A" / "other").stat().st_mtime > time.time() - 60  # the time of transfer
    assert no_sandboxes(tmp_path)


def test_without_transfer_output_files_changed_top_level_files_come_back(tmp_path):
    access_point(tmp_path)
    script = "echo more >> file.txt; echo new > new.txt; mkdir newdir; echo n > newdir/f"
    executor = run(tmp_path, job(tmp_path, "a", script, "transfer_input_files = ap/file.txt, ap/url.txt"))
    assert executor.records["a"].state == DONE
    assert (tmp_path / "file.txt").read_text() == "hello\nmore\n" and (tmp_path / "new.txt").exists()
    assert not (tmp_path / "url.txt").exists() and not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("transfer, said", [
    ("transfer_output_files = out", "Transfer output files failure: the job did not create out"),
    ('transfer_output_files = made.txt\ntransfer_output_remaps = "made.txt = nowhere/dir/made.txt"',
     "Transfer output files failure: writing to file {tmp}/nowhere/dir/made.txt: (errno 2) No such file"),
    ("transfer_input_files = ap/missing.txt",
     "Transfer input files failure: reading from file {tmp}/ap/missing.txt: (errno 2) No such file"),
])
def test_what_htcondor_holds_the_job_for_fails_the_node(tmp_path, transfer, said):
    access_point(tmp_path)
    executor = run(tmp_path, job(tmp_path, "a", "echo made > made.txt", transfer), "RETRY a 2\n")
    record = executor.records["a"]
    assert record.state == ERROR and record.retries == 0  # held: DAGMan would not retry it
    assert record.details.startswith("HTCondor would hold the job: ")
    assert said.format(tmp=tmp_path) in record.details
    assert said.format(tmp=tmp_path) in (tmp_path / "logs" / "a.log").read_text()
    assert no_sandboxes(tmp_path)


def test_outputs_come_back_after_a_failing_exit_before_the_post_script(tmp_path):
    post = tmp_path / "post.sh"
    post.write_text("#!/bin/sh\necho \"$1 $(cat made.txt)\" > post.txt\nexit 0\n")
    post.chmod(0o755)
    executor = run(tmp_path, job(tmp_path, "a", "echo made > made.txt; exit 3", "transfer_output_files = made.txt"),
                   f"SCRIPT POST a {post} $RETURN\n")
    assert executor.records["a"].state == DONE  # the POST script decides
    assert (tmp_path / "post.txt").read_text() == "3 made\n"


def test_a_checkpointing_job_restarts_in_a_fresh_sandbox_with_its_checkpoint(tmp_path):
    access_point(tmp_path)
    records = tmp_path / "records"
    records.mkdir()
    script = (f"n=$(cat out/n 2>/dev/null || echo 0); find . | sort > {records}/start-$n\n"
              "if [ $n -ge 2 ]; then echo done > out/final; exit 0; fi\n"
              "mkdir -p out; echo $((n + 1)) > out/n; echo stray > stray.txt; exit 85")
    transfer = ("transfer_input_files = ap/file.txt\ntransfer_output_files = out\ncheckpoint_exit_code = 85\n"
                "transfer_checkpoint_files = out")
    executor = run(tmp_path, job(tmp_path, "a", script, transfer, 'transfer_output_remaps = "out = res"'))
    assert executor.records["a"].state == DONE and executor.records["a"].retries == 0
    assert (records / "start-0").read_text().split() == [".", "./file.txt"]
    for start in ("start-1", "start-2"):  # the checkpoint files and the inputs, not what else the job left
        assert (records / start).read_text().split() == [".", "./file.txt", "./out", "./out/n"]
    assert (tmp_path / "res" / "n").read_text() == "2\n" and (tmp_path / "res" / "final").exists()
    assert no_sandboxes(tmp_path)


def test_a_checkpoint_without_its_files_fails_the_node(tmp_path):
    transfer = "transfer_output_files = out\ncheckpoint_exit_code = 85\ntransfer_checkpoint_files = out"
    executor = run(tmp_path, job(tmp_path, "a", "exit 85", transfer))
    assert executor.records["a"].state == ERROR
    assert "Transfer checkpoint files failure: the job did not create out" in executor.records["a"].details
    assert no_sandboxes(tmp_path)


def test_an_output_symlink_is_copied_and_what_it_points_at_stays(tmp_path):
    ap = access_point(tmp_path)
    executor = run(tmp_path, job(tmp_path, "a", f"ln -s {ap} out", "transfer_output_files = out",
                                 'transfer_output_remaps = "out = linked"'))
    assert executor.records["a"].state == DONE
    assert (tmp_path / "linked" / "dir" / "sub" / "s.txt").read_text() == "s\n"
    assert (ap / "dir" / "sub" / "s.txt").exists() and not (tmp_path / "linked").is_symlink()


def test_inputs_only_htcondors_plugins_fetch_are_refused_up_front(tmp_path):
    line = job(tmp_path, "a", "true", "transfer_input_files = $(inputs)")
    (tmp_path / "t.dag").write_text(line + 'VARS a inputs="osdf:///ospool/ap20/data/x.hdf5"\n')
    with pytest.raises(UserError, match=r"node a .*osdf:///ospool/ap20/data/x.hdf5: HTCondor fetches osdf:// URLs"):
        Executor(tmp_path / "t.dag")
    assert not (tmp_path / ".aframe-run").exists()


def test_a_relative_executable_is_transferred_from_the_initialdir(tmp_path):
    (tmp_path / "run.sh").write_text("#!/bin/sh\npwd > where\n")
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "a.sub").write_text("executable = run.sh\nshould_transfer_files = YES\n"
                                    "transfer_output_files = where\nqueue\n")
    (tmp_path / "t.dag").write_text("JOB a a.sub\n")
    Executor(tmp_path / "t.dag", poll=0.01).run()
    assert Path((tmp_path / "where").read_text().strip()).parent == tmp_path / SANDBOXES


@pytest.mark.parametrize("setting", ["", "should_transfer_files = IF_NEEDED\n", "should_transfer_files = NO\n"])
def test_jobs_that_transfer_nothing_run_in_their_initialdir(tmp_path, setting):
    (tmp_path / "a.sub").write_text(f"executable = /bin/sh\narguments = \"-c 'pwd; env'\"\n{setting}"
                                    "transfer_input_files = x\noutput = a.out\nqueue\n")
    (tmp_path / "t.dag").write_text("JOB a a.sub\n")
    Executor(tmp_path / "t.dag", poll=0.01).run()
    said = (tmp_path / "a.out").read_text()
    assert said.splitlines()[0] == str(tmp_path) and "_CONDOR_SCRATCH_DIR" not in said


def test_a_stopped_job_brings_nothing_back(tmp_path):
    """Ctrl-C removes the jobs, as condor_rm of DAGMan does: their outputs are not transferred, sandboxes go."""
    script = "mkdir out; echo partial > out/partial; for i in $(seq 300); do sleep 0.1; done"
    (tmp_path / "t.dag").write_text(job(tmp_path, "a", script, "transfer_output_files = out"))
    executor = subprocess.Popen([Path(sys.executable).with_name("aframe-dag"), "run", tmp_path / "t.dag"],
                                stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not list((tmp_path / SANDBOXES).glob("a.*/out/partial")):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    executor.send_signal(signal.SIGINT)
    assert executor.wait(timeout=30) == 130
    assert not (tmp_path / "out").exists() and no_sandboxes(tmp_path)


def test_abort_dag_on_brings_back_the_aborting_jobs_outputs_only(tmp_path):
    """DAGMan removes the other running jobs when a node aborts the DAG: theirs do not come back."""
    slow = job(tmp_path, "slow", "mkdir out; echo partial > out/partial; for i in $(seq 300); do sleep 0.1; done",
               "transfer_output_files = out")
    bad = job(tmp_path, "bad", "sleep 0.5; echo why > why.txt; exit 3", "transfer_output_files = why.txt")
    executor = run(tmp_path, slow, bad, "ABORT-DAG-ON bad 3\n")
    assert executor.aborted and (tmp_path / "why.txt").exists()
    assert not (tmp_path / "out").exists() and no_sandboxes(tmp_path)


def test_sandboxes_a_killed_run_left_go_with_the_next_run_or_clean(tmp_path):
    leftover = tmp_path / SANDBOXES / "a.7"
    leftover.mkdir(parents=True)
    (leftover / "junk").write_text("x" * 100)
    (tmp_path / "aframe.dag").write_text(job(tmp_path, "a", "true", "transfer_output_files ="))
    assert [(item.path, item.size) for item in scratch_plan(tmp_path).remove] == [(leftover, 100)]
    Executor(tmp_path / "aframe.dag", poll=0.01).run()
    assert no_sandboxes(tmp_path)
