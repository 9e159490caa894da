"""`aframe-dag invalidate` + `resubmit` under the real DAGMan: exactly the invalidated nodes and their descendants
run again, from the rescue file invalidate wrote (issue 13)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from aframe_dag.dagfile import JOIN_NODE_PREFIX, rescue_done
from aframe_dag.lifecycle.invalidate import invalidate
from tests.fixtures.fake_dag import Spec, make_run, runs
from tests.fixtures.pool import Pool

pytestmark = pytest.mark.condor

AFRAME_DAG = str(Path(sys.executable).with_name("aframe-dag"))


def test_invalidate_downstream_then_resubmit_reruns_exactly_those_nodes(condor_pool: Pool, pool_dir: Path) -> None:
    """a and d feed b and c (many-to-many: DAGMan adds a join node), f follows b, e fails on its first run only."""
    specs = [Spec("a", behaviour=["--sleep", "3"]), Spec("d"), Spec("b", ["a", "d"]), Spec("c", ["a", "d"]),
             Spec("f", ["b"]), Spec("e", behaviour=["--fail-times", "1"], retries=0)]
    condor = make_run(pool_dir, specs)
    condor_pool.own(pool_dir)
    condor_pool.submit_dag(condor / "aframe.dag")
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=180) != 0
    first = (condor / "aframe.dag.rescue001").read_text()
    assert JOIN_NODE_PREFIX in first
    assert rescue_done(condor / "aframe.dag.rescue001") == {"a", "b", "c", "d", "f"}

    result = invalidate(condor, ["a"], downstream=True)
    assert result.targets == ["a", "b", "c", "f"] and result.rescue_written.name == "aframe.dag.rescue002"
    condor_pool.own(pool_dir)
    resubmitted = condor_pool.run([AFRAME_DAG, "resubmit", condor]).stdout
    assert "aframe.dag.rescue002" in resubmitted and "1 of 7 nodes DONE" in resubmitted  # d, of 6 + FINAL
    cluster = int(re.search(r"DAGMan job (\d+)", resubmitted).group(1))
    assert condor_pool.wait_dag(condor / "aframe.dag", timeout=180, cluster=cluster) == 0
    assert "Found rescue DAG number 2" in (condor / "aframe.dag.dagman.out").read_text()

    counts = {spec.name: len(runs(pool_dir, spec.name)) for spec in specs}
    assert counts == {"a": 2, "d": 1, "b": 2, "c": 2, "f": 2, "e": 2}
    a_done = (pool_dir / "out" / "a.txt").stat().st_mtime
    for child in ("b", "c"):  # the join node's DONE line went too, so they waited for a's rerun
        assert float(runs(pool_dir, child)[1].split()[0]) >= a_done - 0.05
    assert first == (condor / "aframe.dag.rescue001").read_text()  # the original is kept as DAGMan wrote it
