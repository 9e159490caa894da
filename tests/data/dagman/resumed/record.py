"""Record this fixture again from a personal pool (see README.md): `python tests/data/dagman/resumed/record.py`.

Runs aframe.dag under real DAGMan, holds and releases `held`, removes DAGMan with condor_rm while `long` runs,
submits the DAG again (DAGMan resumes from its rescue file and truncates the node log), and copies what DAGMan and
HTCondor wrote back here. Needs root or the pool's user, and ../shared/htcondor (or AFRAME_DAG_HTCONDOR).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = Path(os.environ.get("AFRAME_DAG_HTCONDOR", HERE.parents[4] / "shared" / "htcondor")) / "personal-pool"
INPUTS = ["aframe.dag", "node.sub", "flaky.sub", "killed.sub", "long.sub", "node.sh", "flaky.sh", "killed.sh",
          "long.sh"]
OUTPUTS = ["aframe.status", "aframe.dag.nodes.log", "aframe.dag.rescue001", "aframe.dag.dagman.out",
           "aframe.dag.metrics", "logs/node.log", "logs/flaky.log", "logs/killed.log", "logs/long.log"]


def condor(pool: Path, *argv: str, cwd: Path | None = None) -> str:
    """Run an HTCondor command against the pool as its user; its stdout."""
    done = subprocess.run([str(SCRIPT), "exec", str(pool), "--", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


def wait_until(pool: Path, constraint: str, timeout: float = 120.0) -> None:
    """Until some job in the queue matches the constraint."""
    deadline = time.monotonic() + timeout
    while not condor(pool, "condor_q", "-constraint", constraint, "-af", "ClusterId").strip():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {constraint}")
        time.sleep(0.5)


def wait_gone(pool: Path, cluster: str, timeout: float = 180.0) -> None:
    """Until the job cluster has left the queue."""
    deadline = time.monotonic() + timeout
    while condor(pool, "condor_q", cluster, "-af", "ClusterId").strip():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for cluster {cluster} to leave the queue")
        time.sleep(0.5)


def submit(pool: Path, work: Path) -> str:
    """condor_submit_dag in the work dir; DAGMan's cluster id."""
    said = condor(pool, "condor_submit_dag", "-batch-name", "resumed", "aframe.dag", cwd=work)
    return re.search(r"submitted to cluster (\d+)", said).group(1)


def record(pool: Path, work: Path) -> None:
    owner = work.stat()
    (work / "logs").mkdir()
    for path in [work / "logs", *(shutil.copy2(HERE / name, work / name) for name in INPUTS)]:
        os.chown(path, owner.st_uid, owner.st_gid)  # the pool's user runs the jobs: they write here
    dagman = submit(pool, work)
    wait_until(pool, 'DAGNodeName == "held" && JobStatus == 2')
    condor(pool, "condor_hold", "-constraint", 'DAGNodeName == "held"')
    wait_until(pool, 'DAGNodeName == "held" && JobStatus == 5')
    condor(pool, "condor_release", "-constraint", 'DAGNodeName == "held"')
    wait_until(pool, 'DAGNodeName == "long" && JobStatus == 2')
    time.sleep(2)
    condor(pool, "condor_rm", dagman)
    wait_gone(pool, dagman)
    wait_gone(pool, submit(pool, work))
    (HERE / "logs").mkdir(exist_ok=True)
    for name in OUTPUTS:
        shutil.copyfile(work / name, HERE / name)


def main() -> None:
    pool = Path(tempfile.mkdtemp(prefix="aframe-record-"))
    os.chmod(pool, 0o755)
    try:
        started = subprocess.run([str(SCRIPT), "start", str(pool)], capture_output=True, text=True, timeout=300,
                                 check=True).stdout
        scratch = Path(re.search(r"# scratch dir owned by the pool user: (\S+)", started).group(1))
        work = scratch / "resumed"
        condor(pool, "mkdir", str(work))
        record(pool, work)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(pool)], timeout=120)
    shutil.rmtree(pool, ignore_errors=True)


if __name__ == "__main__":
    main()
