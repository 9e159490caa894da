"""The micro search built with `[condor] filesystem = transfer`, run by DAGMan on a pool whose execute side cannot
see the run directories (tests/fixtures/isolated.py): every node gets its files by HTCondor's file transfer alone.

Two runs, so that the one that needs the session's micro run stays short: the micro config's train node alone, which
stops on ``[train] max_wallclock`` (exit 85) and resumes from the ``last.ckpt`` HTCondor kept in its sandbox until
its model comes back; and ``small_run``'s config (the micro run's network over a short test span), with its test
data fetched over HTTP through ``[condor] url_map``, whose events must be ``small_run``'s, made on a shared
filesystem: the same results with or without one.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

import classad2
import h5py
import numpy as np
import pytest
import torch

from aframe_dag.nodecheck import why_not_done
from tests.condor.test_train_requeue import BATCHES, build_train_only
from tests.fixtures.micro import SMALL
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
TRANSFER = ("condor.filesystem=transfer", f"condor.executable_dir={Path(sys.executable).parent}")
DIRECTORIES = ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves the run directory and remembers what it served (the pytest log stays clean)."""

    served: list[str] = []

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's own name)
        self.served.append(self.path)


@pytest.fixture
def http_root(isolated_dir: Path):
    """An HTTP server on 127.0.0.1 serving the run's directory, standing in for an OSDF origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=str(isolated_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Quiet.served
    server.shutdown()


def build_transfer_run(pool: Pool, directory: Path, overrides, url: str) -> Path:
    """A config in file-transfer mode with every directory under `directory`; returns the condor dir."""
    text = (REPO_ROOT / "tests" / "data" / "micro.ini").read_text()
    for name in DIRECTORIES:
        text = text.replace(f"$AFRAME_{name}", str(directory / name.lower()))
    (directory / "run.ini").write_text(text)
    (directory / "train.yaml").write_text((REPO_ROOT / "tests" / "data" / "train_micro.yaml").read_text())
    overrides = (*overrides, *TRANSFER, f"condor.url_map={directory / 'test_data_dir'}={url}/test_data_dir")
    pool.own(directory)
    pool.run([AFRAME_DAG, "build", directory / "run.ini", *(f"--set={item}" for item in overrides)], cwd=directory)
    return directory / "condor_dir"


def datasets(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as file:
        found = {}
        file.visititems(lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return found


def test_a_transfer_train_node_resumes_from_the_checkpoint_htcondor_kept(isolated_pool: Pool,
                                                                         isolated_dir: Path) -> None:
    condor = build_train_only(isolated_pool, isolated_dir, *TRANSFER)
    assert "transfer_checkpoint_files = aframe-out" in (condor / "train.sub").read_text()
    isolated_pool.submit_dag(condor / "train.dag", "-batch-name", "transfer-train")
    assert isolated_pool.wait_dag(condor / "train.dag", timeout=300) == 0, isolated_pool.dagman_out_tail(
        condor / "train.dag")
    ad = classad2.parseOne(isolated_pool.run(["condor_history", "-limit", "1", "-const", 'DAGNodeName == "train"',
                                              "-l"]).stdout)
    assert ad["CheckpointNumber"] >= 1 and ad["ExitCode"] == 0, ad
    starts = (condor / "logs" / "train.err").read_text()
    assert "aframe-train: resuming from" in starts, starts[-2000:]
    run_dir = isolated_dir / "train_run_dir"
    assert torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == BATCHES
    (node,) = [line.split()[1] for line in (condor / "train.dag").read_text().splitlines() if line.startswith("JOB")]
    marker = json.loads((condor / "done" / f"{node}.json").read_text())
    paths = [output["path"] for output in marker["outputs"]]  # at their access-point paths, model.pt among them
    assert str(run_dir / "model.pt") in paths and all(path.startswith(f"{run_dir}/") for path in paths), paths
    assert why_not_done(condor, node, marker["hash"]) is None  # the POST script landed it: the PRE would skip it


def test_a_transfer_run_needs_no_shared_filesystem_and_finds_what_the_shared_run_found(
        isolated_pool: Pool, isolated_dir: Path, http_root, small_run) -> None:
    url, served = http_root
    model = shutil.copy(small_run.model, isolated_dir / "model.pt")  # where the pool's user may read it
    condor = build_transfer_run(isolated_pool, isolated_dir, (*SMALL, f"train.model={model}"), url)
    assert "should_transfer_files = YES" in (condor / "infer.sub").read_text()
    isolated_pool.submit_dag(condor / "aframe.dag", "-batch-name", "transfer")
    assert isolated_pool.wait_dag(condor / "aframe.dag", timeout=600) == 0, isolated_pool.dagman_out_tail(
        condor / "aframe.dag")
    nodes = json.loads(isolated_pool.run([AFRAME_DAG, "status", condor, "--json"]).stdout)["nodes"]
    assert {name: node["status"] for name, node in nodes.items()} == dict.fromkeys(nodes, "done")
    # the test data came over HTTP, and the events are the shared run's
    assert any(path.endswith("/test_data_dir/injections.hdf5") for path in served), served
    results = isolated_dir / "results_dir"
    for kind, copy in small_run.events.items():
        mine, shared = datasets(results / copy.name), datasets(copy)
        assert mine.keys() == shared.keys(), kind
        for name, values in shared.items():
            np.testing.assert_array_equal(mine[name], values, err_msg=f"{kind}: {name}")
    assert json.loads((results / "summary.json").read_text())["dag_status"] == 0
    # what came back beyond the declared outputs (kept for a post-mortem) is nothing
    assert not [path for path in (condor / "transfer").rglob("*") if path.is_file()]
