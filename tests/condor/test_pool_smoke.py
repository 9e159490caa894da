"""Smoke tests of the real HTCondor pool that the ``condor`` tests use.

Small hand-written DAGs check that the ``condor_pool`` fixture works from start to finish, and they also pin down
the DAGMan behaviour that the local executor copies (DESIGN §7). Every job asks for 1 CPU and 100 MB, so the
two-CPU personal pool can run two of them at once.

With ``AFRAME_DAG_RECORD_FIXTURES=1``, ``test_failed_node_is_not_retried_and_final_sees_it`` copies what DAGMan
wrote into ``tests/data/dagman/failed-retry/``. The ``status``/``why`` tests read those files without a pool.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

DAG_TIMEOUT = 90.0
RECORD_DIR = REPO_ROOT / "tests" / "data" / "dagman" / "failed-retry"


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    path.chmod(mode)
    return path


def write_script(directory: Path, name: str, body: str) -> Path:
    return write(directory / name, "#!/bin/sh\n" + textwrap.dedent(body).lstrip("\n"), mode=0o755)


def write_sub(directory: Path, name: str, script: str, arguments: str, extra: str = "") -> Path:
    """A vanilla-universe submit file with a shared file system (no transfer): the job runs in the DAG's directory."""
    lines = [
        f"executable = {script}",
        f'arguments = "{arguments}"',
        "should_transfer_files = NO",
        "output = logs/$(nodename).out",
        "error = logs/$(nodename).err",
        "request_cpus = 1",
        "request_memory = 100MB",
        "request_disk = 10MB",
        *[line for line in textwrap.dedent(extra).splitlines() if line.strip()],
        "queue",
    ]
    return write(directory / name, "\n".join(lines) + "\n")


def prepare(pool: Pool, directory: Path) -> None:
    (directory / "logs").mkdir()
    pool.own(directory / "logs")


def test_dag_runs_in_order_and_final_sees_dag_status(condor_pool: Pool, pool_dir: Path) -> None:
    """A -> B, then FINAL: exit 0, both files written, B after A, and FINAL got $(DAG_STATUS) = 0 through VARS."""
    prepare(condor_pool, pool_dir)
    write_script(
        pool_dir,
        "node.sh",
        """
        # node.sh NAME [INPUT]: fail when INPUT is missing, else write NAME.txt
        if [ -n "$2" ] && [ ! -e "$2" ]; then echo "missing $2" >&2; exit 3; fi
        echo "$1" > "$1.txt"
        """,
    )
    write_script(
        pool_dir,
        "final.sh",
        """
        echo "DAG_STATUS=$1 FAILED_COUNT=$2" > final.txt
        [ "$1" = 0 ]
        """,
    )
    write_sub(pool_dir, "node.sub", "node.sh", "$(name) $(needs)")
    write_sub(pool_dir, "final.sub", "final.sh", "$(dag_status) $(failed_count)")
    dag = write(
        pool_dir / "smoke.dag",
        """
        JOB A node.sub
        VARS A nodename="A" name="A" needs=""
        JOB B node.sub
        VARS B nodename="B" name="B" needs="A.txt"
        PARENT A CHILD B
        FINAL final final.sub
        VARS final nodename="final" dag_status="$(DAG_STATUS)" failed_count="$(FAILED_COUNT)"
        """,
    )

    cluster = condor_pool.submit_dag(dag)
    assert cluster > 0
    status = condor_pool.wait_dag(dag, timeout=DAG_TIMEOUT)

    assert status == 0, condor_pool.dagman_out_tail(dag)
    assert (pool_dir / "A.txt").read_text() == "A\n"
    assert (pool_dir / "B.txt").read_text() == "B\n"
    assert (pool_dir / "final.txt").read_text() == "DAG_STATUS=0 FAILED_COUNT=0\n"
    assert not list(pool_dir.glob("smoke.dag.rescue*"))


def test_failed_node_is_not_retried_and_final_sees_it(condor_pool: Pool, pool_dir: Path) -> None:
    """A node that exits 2 under ``RETRY … UNLESS-EXIT 2`` runs once. A flaky sibling succeeds on its retry, the
    child of the failed node never runs, the rescue file lists the failure, and FINAL sees DAG_STATUS != 0."""
    import classad2
    import htcondor2

    prepare(condor_pool, pool_dir)
    write_script(
        pool_dir,
        "fail.sh",
        """
        echo run >> "$1.runs"
        exit 2
        """,
    )
    write_script(
        pool_dir,
        "flaky.sh",
        """
        # fails (exit 1) the first time, succeeds the second
        echo run >> "$1.runs"
        if [ -e "$1.failed-once" ]; then echo ok > "$1.txt"; else : > "$1.failed-once"; exit 1; fi
        """,
    )
    write_script(
        pool_dir,
        "node.sh",
        """
        echo "$1" > "$1.txt"
        """,
    )
    write_script(
        pool_dir,
        "summary.sh",
        """
        # like aframe-summary: report, and exit non-zero when the DAG failed
        echo "DAG_STATUS=$1 FAILED_COUNT=$2" > summary.txt
        [ "$1" = 0 ]
        """,
    )
    write_sub(pool_dir, "fail.sub", "fail.sh", "$(nodename)")
    write_sub(pool_dir, "flaky.sub", "flaky.sh", "$(nodename)")
    write_sub(pool_dir, "node.sub", "node.sh", "$(nodename)")
    write_sub(pool_dir, "summary.sub", "summary.sh", "$(dag_status) $(failed_count)")
    dag = write(
        pool_dir / "aframe.dag",
        """
        JOB background-0 fail.sub
        VARS background-0 nodename="background-0"
        RETRY background-0 2 UNLESS-EXIT 2
        JOB waveforms-0 flaky.sub
        VARS waveforms-0 nodename="waveforms-0"
        RETRY waveforms-0 2 UNLESS-EXIT 2
        JOB train node.sub
        VARS train nodename="train"
        RETRY train 2 UNLESS-EXIT 2
        PARENT background-0 waveforms-0 CHILD train
        FINAL summary summary.sub
        VARS summary nodename="summary" dag_status="$(DAG_STATUS)" failed_count="$(FAILED_COUNT)"
        NODE_STATUS_FILE aframe.status 5
        JOBSTATE_LOG aframe.jobstate.log
        """,
    )

    condor_pool.submit_dag(dag)
    status = condor_pool.wait_dag(dag, timeout=DAG_TIMEOUT)
    tail = condor_pool.dagman_out_tail(dag)

    # FINAL failed because the DAG had failed, so DAGMan failed too (with a FINAL node, its status is FINAL's)
    assert status == 1, tail
    summary = (pool_dir / "summary.txt").read_text()
    assert summary == "DAG_STATUS=2 FAILED_COUNT=1\n", tail
    assert (pool_dir / "background-0.runs").read_text() == "run\n", "UNLESS-EXIT 2 must stop the retries"
    assert (pool_dir / "waveforms-0.runs").read_text() == "run\nrun\n"
    assert (pool_dir / "waveforms-0.txt").exists()
    assert not (pool_dir / "train.txt").exists()

    rescue = pool_dir / "aframe.dag.rescue001"
    assert rescue.exists(), tail
    rescue_text = rescue.read_text()
    assert "DONE waveforms-0" in rescue_text
    assert "RETRY background-0 2 UNLESS-EXIT 2" in rescue_text
    # FINAL is never marked DONE in a rescue file. When FINAL fails, DAGMan rewrites the rescue file after it
    # ran: the header comment then names FINAL among the failed nodes, but no command line names it
    commands = [line for line in rescue_text.splitlines() if line.strip() and not line.startswith("#")]
    assert not [line for line in commands if "summary" in line], commands

    ads = {ad.get("Node", ad["Type"]): ad for ad in classad2.parseAds((pool_dir / "aframe.status").read_text())}
    assert ads["background-0"]["NodeStatus"] == 6  # STATUS_ERROR
    assert "failed with status 2" in ads["background-0"]["StatusDetails"]
    assert ads["waveforms-0"]["NodeStatus"] == 5  # STATUS_DONE
    assert ads["waveforms-0"]["RetryCount"] == 1
    assert ads["train"]["NodeStatus"] == 0  # STATUS_NOT_READY (not STATUS_FUTILE): its parent failed
    assert ads["summary"]["NodeStatus"] == 6
    assert ads["DagStatus"]["DagStatus"] == 6  # STATUS_ERROR, because FINAL failed
    assert ads["DagStatus"]["NodesFailed"] == 2

    submits: dict[str, int] = {}
    for event in htcondor2.JobEventLog(str(pool_dir / "aframe.dag.nodes.log")).events(stop_after=0):
        if event.type == htcondor2.JobEventType.SUBMIT:
            node = str(event.get("LogNotes", "")).removeprefix("DAG Node: ")
            submits[node] = submits.get(node, 0) + 1
    assert submits == {"background-0": 1, "waveforms-0": 2, "summary": 1}

    if os.environ.get("AFRAME_DAG_RECORD_FIXTURES") == "1":
        record_fixture(pool_dir)


def record_fixture(directory: Path) -> None:
    """Copy what DAGMan wrote into tests/data/dagman/failed-retry/ (only with AFRAME_DAG_RECORD_FIXTURES=1)."""
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    names = [
        "aframe.dag",
        "aframe.status",
        "aframe.dag.nodes.log",
        "aframe.dag.rescue001",
        "aframe.dag.dagman.out",
        "aframe.dag.metrics",
        "aframe.jobstate.log",
    ]
    for name in names:
        shutil.copyfile(directory / name, RECORD_DIR / name)
    version = next(
        (line.split("$CondorVersion:")[1].split("$")[0].strip()
         for line in (directory / "aframe.dag.dagman.out").read_text().splitlines() if "$CondorVersion:" in line),
        "unknown",
    )
    write(
        RECORD_DIR / "README.md",
        f"""
        # A failed DAG recorded from real DAGMan (HTCondor {version})

        These files were written by `tests/condor/test_pool_smoke.py::test_failed_node_is_not_retried_and_final_sees_it`
        on the personal pool, with `AFRAME_DAG_RECORD_FIXTURES=1`. Do not edit them by hand. To record them again,
        run that test with that variable set.

        The DAG (`aframe.dag`) has these nodes:
        - `background-0` exits 2 under `RETRY background-0 2 UNLESS-EXIT 2`. It runs once, and its node status is
          STATUS_ERROR.
        - `waveforms-0` exits 1 the first time and succeeds on its retry (RetryCount 1, DONE).
        - `train` is the child of both. It never runs.
        - The FINAL `summary` node gets `$(DAG_STATUS)` = 2 and `$(FAILED_COUNT)` = 1 and exits 1, as aframe-summary
          does. So DAGMan exits 1, and the status file ends with `DagStatus = 6` (STATUS_ERROR).

        The files:
        - `aframe.status`: NODE_STATUS_FILE.
        - `aframe.dag.nodes.log`: the default node log, an HTCondor user log with `DAG Node:` LogNotes.
        - `aframe.dag.rescue001`: the rescue file. DAGMan writes it before FINAL runs. Because FINAL failed, DAGMan
          wrote it again afterwards: its header comment lists `summary` among the failed nodes, but no command line
          names it.
        - `aframe.dag.dagman.out`, `aframe.dag.metrics`, `aframe.jobstate.log`: DAGMan's other output.

        Absolute paths and times in these files come from the run that recorded them.
        """,
    )


def test_gpu_job_sees_gpu_uuid(condor_pool: Pool, pool_dir: Path) -> None:
    """``request_gpus = 1`` gives CUDA_VISIBLE_DEVICES=GPU-<uuid>; a job without GPUs sees no GPU (10000 here)."""
    gpus = condor_pool.run(["condor_status", "-af", "TotalGPUs"], timeout=30).stdout.split()
    if not any(g.isdigit() and int(g) > 0 for g in gpus):
        pytest.skip(f"the pool has no GPUs (TotalGPUs: {' '.join(gpus) or 'none'})")

    prepare(condor_pool, pool_dir)
    write_script(
        pool_dir,
        "cuda.sh",
        """
        printf '%s\\n' "${CUDA_VISIBLE_DEVICES-<unset>}" > "$1.cuda"
        """,
    )
    write_sub(pool_dir, "gpu.sub", "cuda.sh", "$(nodename)", extra="request_gpus = 1")
    write_sub(pool_dir, "cpu.sub", "cuda.sh", "$(nodename)")
    dag = write(
        pool_dir / "gpu.dag",
        """
        JOB gpu gpu.sub
        VARS gpu nodename="gpu"
        JOB cpu cpu.sub
        VARS cpu nodename="cpu"
        """,
    )

    condor_pool.submit_dag(dag)
    assert condor_pool.wait_dag(dag, timeout=DAG_TIMEOUT) == 0, condor_pool.dagman_out_tail(dag)

    gpu = (pool_dir / "gpu.cuda").read_text().strip()
    cpu = (pool_dir / "cpu.cuda").read_text().strip()
    assert gpu.startswith("GPU-") and "," not in gpu, gpu
    if condor_pool.mode == "personal":
        assert cpu == "10000", cpu  # set, hiding every GPU (DESIGN §12)
    else:
        assert not cpu.startswith("GPU-"), cpu
