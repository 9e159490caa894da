"""The micro search built with `[condor] filesystem = transfer`, run by DAGMan on a pool whose execute side cannot
see the run directories (tests/fixtures/isolated.py): every node gets its files by HTCondor's file transfer alone.

The run is the micro config over the short test span of ``small_run`` (tests/fixtures/micro.py), with a training
that stops once on ``[train] max_wallclock`` (exit 85) and resumes from the ``last.ckpt`` HTCondor transferred back,
and its test data fetched over HTTP through ``[condor] url_map``. Its network must be the micro run's, weight for
weight, and its events those of ``small_run``, which exports the micro run's network over the same test data on a
shared filesystem: the same results with or without one.
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
from pathlib import Path

import classad2
import h5py
import numpy as np
import pytest
import torch

from tests.fixtures.micro import SMALL
from tests.fixtures.pool import REPO_ROOT, Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))
WALLCLOCK = 20  # s of training per start: the micro training (about a minute) stops at least once
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


def build_transfer_run(pool: Pool, directory: Path, url: str) -> Path:
    """The micro config in file-transfer mode, every directory under `directory`; returns the condor dir."""
    text = (REPO_ROOT / "tests" / "data" / "micro.ini").read_text()
    for name in DIRECTORIES:
        text = text.replace(f"$AFRAME_{name}", str(directory / name.lower()))
    (directory / "run.ini").write_text(text)
    (directory / "train.yaml").write_text((REPO_ROOT / "tests" / "data" / "train_micro.yaml").read_text())
    overrides = (*SMALL, "condor.filesystem=transfer", f"condor.executable_dir={Path(sys.executable).parent}",
                 f"train.max_wallclock={WALLCLOCK}",
                 f"condor.url_map={directory / 'test_data_dir'}={url}/test_data_dir")
    pool.own(directory)
    pool.run([AFRAME_DAG, "build", directory / "run.ini", *(f"--set={item}" for item in overrides)], cwd=directory)
    return directory / "condor_dir"


def datasets(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as file:
        found = {}
        file.visititems(lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return found


def test_a_transfer_run_needs_no_shared_filesystem_and_finds_what_the_shared_run_found(
        isolated_pool: Pool, isolated_dir: Path, http_root, micro_run, small_run) -> None:
    url, served = http_root
    condor = build_transfer_run(isolated_pool, isolated_dir, url)
    assert "should_transfer_files = YES" in (condor / "infer.sub").read_text()
    isolated_pool.submit_dag(condor / "aframe.dag", "-batch-name", "transfer")
    assert isolated_pool.wait_dag(condor / "aframe.dag", timeout=600) == 0, isolated_pool.dagman_out_tail(
        condor / "aframe.dag")
    nodes = json.loads(isolated_pool.run([AFRAME_DAG, "status", condor, "--json"]).stdout)["nodes"]
    assert {name: node["status"] for name, node in nodes.items()} == dict.fromkeys(nodes, "done")

    # the training stopped on its wall-clock budget and went on from the checkpoint HTCondor sent back
    errors = (condor / "logs" / "train.err").read_text()
    ad = classad2.parseOne(isolated_pool.run(["condor_history", "-limit", "1", "-const", 'DAGNodeName == "train"',
                                              "-l"]).stdout)
    assert ad["CheckpointNumber"] >= 1 and ad["ExitCode"] == 0, ad
    assert "aframe-train: resuming from" in errors, errors[-2000:]
    ours = torch.jit.load(isolated_dir / "train_run_dir" / "model.pt").state_dict()
    theirs = torch.jit.load(micro_run.root / "training" / "model.pt").state_dict()
    assert ours.keys() == theirs.keys()
    for name, weights in theirs.items():
        assert torch.equal(ours[name], weights), name

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
