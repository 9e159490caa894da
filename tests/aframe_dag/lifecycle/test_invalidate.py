"""`aframe-dag invalidate`: markers and rescue DONE lines go, data files stay, and exactly those nodes rerun."""

from __future__ import annotations

import fcntl
import json
import os

import pytest

from aframe_dag.cli.main import main
from aframe_dag.dagfile import rescue_done, rescue_files
from aframe_dag.errors import UserError
from aframe_dag.lifecycle.invalidate import invalidate
from aframe_dag.local.executor import Executor
from tests.aframe_dag.lifecycle.conftest import snapshot
from tests.fixtures.fake_dag import Spec, make_run, runs


def test_marker_and_rescue_line_go_and_the_original_rescue_stays(micro_run):
    condor = micro_run.condor_dir
    original = (condor / "aframe.dag.rescue001").read_text()
    model = micro_run.workflow.nodes[[n.name for n in micro_run.workflow.nodes].index("train")].outputs[0]
    result = invalidate(condor, ["train"])
    assert result.targets == ["train"] and result.markers == ["train"]
    assert not (condor / "done" / "train.json").exists()
    assert (condor / "done" / "export.json").exists() and os.path.exists(model)  # data files are never deleted
    assert (condor / "aframe.dag.rescue001").read_text() == original
    assert rescue_files(condor / "aframe.dag")[-1].name == "aframe.dag.rescue002"
    new = (condor / "aframe.dag.rescue002").read_text()
    assert rescue_done(condor / "aframe.dag.rescue002") == rescue_done(condor / "aframe.dag.rescue001") - {"train"}
    assert "_condor_join_node1" not in new  # a join left DONE would release train's children before it reran
    assert "RETRY sv 1 UNLESS-EXIT 2" in new and new.startswith("# Rescue DAG file")
    text = result.describe()
    assert "will rerun 1 node(s): train" in text and "wrote aframe.dag.rescue002" in text
    assert "still done, not rerun (add --downstream to rerun them too): export, infer-0000, infer-0001, " \
           "aggregate" in text


def test_downstream_takes_every_descendant(micro_run):
    condor = micro_run.condor_dir
    result = invalidate(condor, ["train"], downstream=True)
    assert result.targets == ["train", "export", "infer-0000", "infer-0001", "aggregate", "sv"]
    assert result.markers == ["train", "export", "infer-0000", "infer-0001", "aggregate"]  # sv never finished
    assert not result.still_done
    left = rescue_done(condor / "aframe.dag.rescue002")
    assert not left & set(result.targets) and "waveforms-train-merge" in left


def test_unknown_node_is_refused_with_a_suggestion_and_nothing_changes(micro_run, capsys):
    condor = micro_run.condor_dir
    before = snapshot(condor)
    with pytest.raises(SystemExit) as exit_info:
        main(["invalidate", "trian", "export", str(condor)])
    assert exit_info.value.code == 2
    assert "no node 'trian' in aframe.dag (did you mean 'train'?); nothing changed" in capsys.readouterr().err
    assert snapshot(condor) == before
    with pytest.raises(UserError, match="FINAL node"):
        invalidate(condor, ["summary"])
    assert snapshot(condor) == before


def test_refused_while_the_local_executor_runs(micro_run):
    condor = micro_run.condor_dir
    lock = condor / ".aframe-run" / "lock"
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": 4242, "host": "elsewhere"}))
    before = snapshot(condor)
    with open(lock) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="cannot invalidate nodes while the DAG is still running: .*pid 4242.*"
                                            "nothing changed"):
            invalidate(condor, ["train"])
    assert snapshot(condor) == before


def test_condor_dir_comes_from_the_environment_when_not_given(micro_run, monkeypatch, capsys):
    monkeypatch.setenv("AFRAME_CONDOR_DIR", str(micro_run.condor_dir))
    monkeypatch.chdir(micro_run.condor_dir.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["invalidate", "export", "sv", "--downstream"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "will rerun 5 node(s): export, infer-0000, infer-0001, aggregate, sv" in out


def test_the_local_executor_reruns_exactly_the_invalidated_nodes(tmp_path):
    """a and d feed b and c (a many-to-many edge, so DAGMan would add a join node); f follows b; e fails once."""
    specs = [Spec("a"), Spec("d"), Spec("b", ["a", "d"]), Spec("c", ["a", "d"]), Spec("f", ["b"]),
             Spec("e", behaviour=["--fail-times", "1"], retries=0)]
    condor = make_run(tmp_path, specs)
    assert Executor(condor, 2, poll=0.01).run() == 1
    assert rescue_done(condor / "aframe.dag.rescue001") == {"a", "b", "c", "d", "f"}
    result = invalidate(condor, ["b"], downstream=True)
    assert result.targets == ["b", "f"] and result.markers == ["b", "f"]
    assert Executor(condor, 2, poll=0.01).run() == 0
    counts = {spec.name: len(runs(tmp_path, spec.name)) for spec in specs}
    assert counts == {"a": 1, "d": 1, "b": 2, "c": 1, "f": 2, "e": 2}
