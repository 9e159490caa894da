"""Secret-leak test on the personal pool (issue 12, DESIGN §12): a remote-training DAG submitted with
AWS_SECRET_ACCESS_KEY set to a marker puts the marker in no job ClassAd (``condor_q -l`` while its jobs are queued or
running, ``condor_history -l`` after), and in no file of the run directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.executables.remote.fake_kube import FakeKube
from tests.executables.remote.remote_dag import MARKER, build, files_containing
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor


def _ads(pool: Pool, command: str, cluster: int) -> str:
    constraint = f"ClusterId == {cluster} || DAGManJobId == {cluster}"
    return pool.run([command, "-l", "-constraint", constraint], timeout=60, check=False).stdout


def test_submitted_remote_dag_carries_no_secret(condor_pool: Pool, s3_server, s3_bucket, monkeypatch):
    fake = FakeKube()
    try:
        work = condor_pool.workdir("secret-leak")
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(AWS_SECRET_ACCESS_KEY=MARKER, AWS_ACCESS_KEY_ID="AKIALEAKMARKER000000")
        directory = work / "run"
        condor_dir = build(directory, s3_bucket, s3_server, fake.kubeconfig(work / "kubeconfig"), env)
        condor_pool.own(work)
        for name, value in env.items():
            monkeypatch.setenv(name, value)  # the submitting shell has the keys in its environment
        cluster = condor_pool.submit_dag(condor_dir / "aframe.dag")
        live, deadline = "", time.monotonic() + 120
        while time.monotonic() < deadline:  # until DAGMan has submitted node jobs
            live = _ads(condor_pool, "condor_q", cluster)
            if live.count("DAGNodeName") >= 1:
                break
            time.sleep(1)
        assert "DAGNodeName" in live, "DAGMan submitted no node job in 120 s"
        condor_pool.run(["condor_rm", str(cluster)], check=False)
        while condor_pool.in_queue(cluster) and time.monotonic() < deadline + 60:
            time.sleep(1)
        history = _ads(condor_pool, "condor_history", cluster)
        assert "Environment" in live + history  # the ads were really read
        for text in (live, history):
            assert MARKER not in text and "AKIALEAKMARKER" not in text
        assert files_containing(Path(directory), MARKER) == []
    finally:
        fake.close()
