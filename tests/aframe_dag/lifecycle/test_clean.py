"""`aframe-dag clean`: merged shards and scratch go only when nothing needs them; everything else stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aframe_dag.cli.main import main
from aframe_dag.condordir import running
from aframe_dag.condordir.dag import load_dag
from aframe_dag.errors import UserError
from aframe_dag.lifecycle.clean import remove, scratch_plan, shard_plan
from aframe_dag.lifecycle.invalidate import invalidate
from aframe_dag.nodecheck import why_not_done
from aframe_dag.status.sources import valid_marker
from tests.aframe_dag.lifecycle.conftest import snapshot
from tests.fixtures.writers import DEAD_PID


def _shards(workflow) -> set[Path]:
    merges = [node for node in workflow.nodes if node.stage == "merge"]
    return {Path(path) for node in merges for path in node.inputs}


def test_shards_of_done_merges_are_listed_then_removed_with_yes(micro_run, capsys):
    condor, shards = micro_run.condor_dir, _shards(micro_run.workflow)
    assert len(shards) == 7  # 2 training + 1 validation waveform shards, 2 injection + 2 rejected shards
    before = snapshot(condor.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), "--shards"])
    assert exit_info.value.code == 0
    listing = capsys.readouterr().out
    assert "merged shards: 7 to remove" in listing and "nothing removed: add --yes" in listing
    assert all(str(shard) in listing for shard in shards)
    assert snapshot(condor.parent) == before

    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), "--shards", "--yes"])
    assert exit_info.value.code == 0
    size = sum(len(before[str(s.relative_to(condor.parent))]) for s in shards)
    assert f"removed 7, freed {size / 1024:.1f} KiB" in capsys.readouterr().out
    after = snapshot(condor.parent)
    assert {Path(condor.parent / name) for name in set(before) - set(after)} == shards
    dag = load_dag(condor)
    for node in micro_run.workflow.nodes:  # the producers still count as done: nothing would rerun them
        if not node.final and node.name != "sv":
            assert why_not_done(condor, node.name, node.hash) is None, node.name
    assert valid_marker(condor, dag, "waveforms-train-000")["cleaned"][0]["path"].endswith("train-000.hdf5")


def test_shards_a_node_still_needs_are_refused_and_nothing_is_removed(micro_run, capsys):
    condor = micro_run.condor_dir
    (condor / "done" / "injections-merge.json").unlink()
    plan = shard_plan(condor)
    assert any("injections-1240580983-600.hdf5 is still needed: injections-merge not DONE" in reason
               for reason in plan.blockers)
    before = snapshot(condor.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), "--shards", "--yes"])
    assert exit_info.value.code == 2
    assert "injections-merge not DONE" in capsys.readouterr().err and snapshot(condor.parent) == before
    with pytest.raises(UserError, match="not cleaning merged shards: .*injections-merge not DONE.*nothing removed"):
        remove(plan)
    assert snapshot(condor.parent) == before


@pytest.mark.parametrize("what", ["--shards", "--scratch"])
def test_nothing_is_removed_while_dagman_runs_the_dag(micro_run, monkeypatch, capsys, what):
    condor = micro_run.condor_dir
    dagman = {"ClusterId": 40, "JobUniverse": 7, "JobStatus": 2, "Iwd": "/x", "JobBatchName": "y"}
    monkeypatch.setattr(running, "schedd_jobs", lambda _: [dagman])
    before = snapshot(condor.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), what, "--yes"])
    assert exit_info.value.code == 2 and snapshot(condor.parent) == before
    said = capsys.readouterr()
    assert "blocked: the DAG is still running: DAGMan job 40 is running this DAG" in said.out
    assert "wait for it or condor_rm 40 first; nothing removed" in said.err


def test_invalidating_a_merge_reruns_the_producers_of_its_cleaned_shards(micro_run):
    condor = micro_run.condor_dir
    remove(shard_plan(condor))
    result = invalidate(condor, ["waveforms-train-merge"])
    assert result.targets == ["waveforms-train-000", "waveforms-train-001", "waveforms-train-merge"]
    assert result.upstream == ["waveforms-train-000", "waveforms-train-001"]
    assert "including waveforms-train-000, waveforms-train-001: `aframe-dag clean` removed" in result.describe()


def test_scratch_is_the_tmp_dir_and_the_cache_of_done_training(micro_run, run_env):
    condor = micro_run.condor_dir
    tmp = run_env / "tmp"
    (tmp / "work").mkdir(parents=True)
    (tmp / "work" / "part.bin").write_bytes(b"x" * 2048)
    (tmp / "loose.txt").write_text("scratch")
    cache = run_env / "training" / ".cache"
    (cache / "bucket").mkdir(parents=True)
    (cache / "bucket" / "background.hdf5").write_bytes(b"y" * 4096)
    plan = scratch_plan(condor)
    assert [item.path for item in plan.remove] == [tmp / "loose.txt", tmp / "work", cache]
    assert plan.size == 7 + 2048 + 4096
    keep = snapshot(run_env / "data")
    assert remove(plan) == plan.size
    assert tmp.is_dir() and not list(tmp.iterdir()) and not cache.exists()
    assert (run_env / "training" / "model.pt").exists() and snapshot(run_env / "data") == keep


def test_scratch_keeps_the_cache_of_unfinished_training_and_a_shared_tmp_dir(micro_run, run_env):
    condor = micro_run.condor_dir
    (run_env / "training" / ".cache").mkdir(parents=True)
    (condor / "done" / "train.json").unlink()
    resolved = condor / "run.ini.resolved"
    resolved.write_text(resolved.read_text().replace(f"tmp_dir = {run_env / 'tmp'}", f"tmp_dir = {run_env}"))
    plan = scratch_plan(condor)
    assert not plan.remove
    assert any("train is not DONE" in reason for reason in plan.kept)
    assert any(f"tmp_dir = {run_env} holds {condor}" in reason for reason in plan.kept)


def test_scratch_lists_and_removes_temporaries_killed_writers_left(micro_run, run_env, capsys):
    """Issue 19: `.NAME.tmp-PID-*` files and directories of dead writers go, with their sizes; a running one's stays."""
    condor = micro_run.condor_dir
    report = run_env / "results" / f".report.html.tmp-{DEAD_PID}-0badc0de"
    report.write_bytes(b"x" * 3000)
    background = run_env / "data" / "test" / "background" / f".background-1240580983-600.hdf5.tmp-{DEAD_PID}-1a"
    background.write_bytes(b"y" * 1000)
    repository = run_env / "results" / f".model_repo.tmp-{DEAD_PID}-2b"
    (repository / "aframe" / "1").mkdir(parents=True)
    (repository / "aframe" / "1" / "model.onnx").write_bytes(b"z" * 500)
    running = run_env / "training" / f".last.ckpt.tmp-{os.getpid()}-3c"
    running.write_bytes(b"still being written")
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), "--scratch"])
    listing = capsys.readouterr().out
    assert exit_info.value.code == 0 and "scratch: 3 to remove, 4.4 KiB:" in listing
    for size, path in [("1000 B", background), ("500 B", repository), ("2.9 KiB", report)]:
        assert f"{size:>9}  {path}  (temporary of a killed writer, pid {DEAD_PID})" in listing
    assert f"kept: {running}: its writer (pid {os.getpid()}) still runs" in listing
    before = snapshot(run_env)
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(condor), "--scratch", "--yes"])
    assert exit_info.value.code == 0 and "removed 3, freed 4.4 KiB" in capsys.readouterr().out
    assert not report.exists() and not background.exists() and not repository.exists() and running.exists()
    gone = {report, background, repository / "aframe" / "1" / "model.onnx"}
    assert set(before) - set(snapshot(run_env)) == {str(path.relative_to(run_env)) for path in gone}


def test_clean_needs_to_be_told_what(micro_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["clean", str(micro_run.condor_dir)])
    assert exit_info.value.code == 2 and "--shards or --scratch" in capsys.readouterr().err
