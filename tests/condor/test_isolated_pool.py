"""The ``isolated_pool`` fixture really hides the run directories from its jobs, and file transfer gets around that.

One small DAG runs on the isolated pool, under the hidden root: node ``blind`` reads a file there by its absolute
path, node ``sandbox`` gets the same file through ``transfer_input_files`` and sends a copy back through
``transfer_output_files``/``transfer_output_remaps``. A PRE script (which DAGMan runs on the access point) checks
that the file is there.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.fixtures.isolated import EXECUTE_DOMAIN
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor

SECRET = "seen only on the access point\n"
DAG_TIMEOUT = 60.0


def _submit_file(directory: Path, name: str, lines: str) -> None:
    """A node's submit file: transfer on, machine's filesystem domain recorded in the job ad, own out/err/log."""
    common = f"""
        should_transfer_files = YES
        job_machine_attrs = FileSystemDomain
        output = {name}.out
        error = {name}.err
        log = {name}.log
        request_cpus = 1
        request_memory = 100MB
        request_disk = 10MB
        """
    (directory / f"{name}.sub").write_text(textwrap.dedent(lines + common).strip() + "\nqueue\n")


def _write_dag(directory: Path, secret: Path) -> Path:
    """Two independent nodes, both reading ``secret``: one by absolute path, one from its sandbox."""
    _submit_file(directory, "blind", f"executable = /bin/cat\narguments = {secret}\n")
    _submit_file(
        directory,
        "sandbox",
        f"""
        executable = /bin/cp
        arguments = {secret.name} copy.txt
        transfer_input_files = {secret}
        transfer_output_files = copy.txt
        transfer_output_remaps = "copy.txt = {directory / 'results' / 'copy.txt'}"
        """,
    )
    dag = directory / "isolation.dag"
    dag.write_text(f"JOB blind blind.sub\nJOB sandbox sandbox.sub\nSCRIPT PRE sandbox /bin/test -r {secret}\n")
    return dag


@pytest.fixture(scope="module")
def isolation_run(isolated_pool: Pool) -> tuple[Path, int, dict[str, str]]:
    """Run the DAG once: its directory, DAGMan's exit status, and each node's machine filesystem domain."""
    directory = isolated_pool.workdir("isolation")
    secret = directory / "inputs" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    (directory / "results").mkdir()
    dag = _write_dag(directory, secret)
    isolated_pool.own(directory)
    cluster = isolated_pool.submit_dag(dag)
    status = isolated_pool.wait_dag(dag, timeout=DAG_TIMEOUT)
    attributes = ["DAGNodeName", "MachineAttrFileSystemDomain0"]
    history = isolated_pool.run(["condor_history", "-constraint", f"DAGManJobId == {cluster}", "-af", *attributes])
    domains = dict(line.split(None, 1) for line in history.stdout.splitlines() if line.strip())
    return directory, status, domains


def test_the_access_point_sees_the_hidden_root(isolated_pool: Pool, isolation_run) -> None:
    """The run lives under the hidden root, and DAGMan's PRE script there found the input (else sandbox would fail)."""
    directory, _, _ = isolation_run
    assert directory.parent == isolated_pool.scratch
    assert "PRE Script of node sandbox completed successfully" in isolated_pool.dagman_out_tail(
        directory / "isolation.dag", lines=400
    )


def test_a_job_cannot_read_the_run_by_absolute_path(isolation_run) -> None:
    """``cat <absolute path>`` fails on the execute side, so the DAG fails because of that node alone."""
    directory, status, _ = isolation_run
    assert status == 1
    assert "No such file or directory" in (directory / "blind.err").read_text()
    assert (directory / "blind.out").read_text() == ""


def test_transferred_input_is_read_and_output_comes_back(isolation_run) -> None:
    """The same file, transferred in, is read in the sandbox, and its copy is remapped back under the hidden root."""
    directory, _, _ = isolation_run
    assert (directory / "results" / "copy.txt").read_text() == SECRET
    assert (directory / "sandbox.err").read_text() == ""


def test_jobs_ran_in_the_execute_sides_filesystem_domain(isolated_pool: Pool, isolation_run) -> None:
    """Both jobs matched the isolated startd, whose filesystem domain is not the access point's."""
    _, _, domains = isolation_run
    assert domains == {"blind": EXECUTE_DOMAIN, "sandbox": EXECUTE_DOMAIN}
    own_domain = isolated_pool.run(["condor_config_val", "FILESYSTEM_DOMAIN"]).stdout.strip()
    assert own_domain and own_domain != EXECUTE_DOMAIN
