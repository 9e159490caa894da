"""Reuse: a trained model replaces training, and nodes done in earlier runs with the same hash are marked done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aframe_dag.builder.build import build
from aframe_dag.builder.report import build_report
from aframe_dag.cli.main import main
from aframe_dag.config import load_config
from aframe_dag.errors import ConfigError
from aframe_dag.nodecheck import why_not_done
from aframe_dag.plan import plan
from tests.aframe_dag.lifecycle.conftest import mark_finished, snapshot

TRAINING_STAGES = {"train", "tune-trial", "tune-select", "remote-train", "waveforms", "waveforms-val"}


@pytest.fixture
def model(run_env) -> Path:
    """A stand-in model.pt: build reads only its bytes (export is what loads it)."""
    path = run_env / "elsewhere" / "model.pt"
    path.parent.mkdir()
    path.write_bytes(b"weights one")
    return path


def test_a_model_plans_no_training_and_export_reads_it(micro_ini, model):
    workflow = plan(load_config(micro_ini, [f"train.model={model}"]))
    stages = {node.stage for node in workflow.nodes}
    assert not stages & TRAINING_STAGES
    assert not [node for node in workflow.nodes if node.name.startswith("background-train-")]
    assert {node.name for node in workflow.nodes if node.stage == "merge"} == {"injections-merge", "rejected-merge"}
    export = next(node for node in workflow.nodes if node.name == "export")
    assert export.arguments[export.arguments.index("--model") + 1] == str(model)
    assert workflow.parents["export"] == ()
    summary = workflow.final.arguments
    assert summary[summary.index("--train-run-dir") + 1] == str(model.parent)
    full = plan(load_config(micro_ini))
    assert {"train", "waveforms", "waveforms-val"} <= {node.stage for node in full.nodes}


def test_export_hash_follows_the_model_file(micro_ini, model, run_env):
    def hashes(path):
        return {node.name: node.hash for node in plan(load_config(micro_ini, [f"train.model={path}"])).nodes}

    first = hashes(model)
    assert hashes(model) == first
    model.write_bytes(b"weights two")
    second = hashes(model)
    assert second["export"] != first["export"] and second["infer-0000"] != first["infer-0000"]
    assert second["background-test-1240580983-600"] == first["background-test-1240580983-600"]
    other = run_env / "other.pt"
    other.write_bytes(b"weights two")
    assert hashes(other)["export"] not in (first["export"], second["export"])


def test_a_missing_model_is_a_config_error_exit_2(micro_ini, run_env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", str(micro_ini), "--set", f"train.model={run_env}/nope/model.pt"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"[train] model: no such file: {run_env}/nope/model.pt" in error and len(error.splitlines()) == 1
    assert not (run_env / "condor").exists()


@pytest.mark.parametrize("overrides, where", [
    (["tune.enabled=true"], r"\[tune\] enabled: must be false"),
    (["train.remote=kubernetes"], r"\[train\] remote: must be none"),
])
def test_a_model_with_training_settings_is_refused(micro_ini, model, overrides, where):
    with pytest.raises(ConfigError, match=where + ".* skips training"):
        load_config(micro_ini, [f"train.model={model}", *overrides])


@pytest.mark.parametrize("value, message", [
    ("relative/condor", "must list absolute paths"),
    ("{run_env}/absent", "has no done/ directory"),
    ("{run_env}/condor", "this run's own condor dir"),
])
def test_reuse_must_name_another_run_s_condor_dir(micro_ini, run_env, value, message):
    with pytest.raises(ConfigError, match=r"\[run\] reuse: .*" + message):
        load_config(micro_ini, [f"run.reuse={value.format(run_env=run_env)}"])


@pytest.fixture
def finished(micro_ini, run_env):
    """The micro run built and every node finished (outputs and done-markers), as the earlier run to reuse."""
    result = build(micro_ini)
    mark_finished(result.workflow, result.condor_dir)
    return result


def second_run(micro_ini, run_env, finished, *extra, dry_run=False):
    """A new run with its own condor and results dirs, the same data dirs, and the finished run's model."""
    model = run_env / "training" / "model.pt"
    overrides = [f"run.condor_dir={run_env}/condor2", f"run.results_dir={run_env}/results2",
                 f"train.model={model}", f"run.reuse={finished.condor_dir}", *extra]
    return build(micro_ini, overrides, dry_run=dry_run)


def test_matching_markers_are_copied_and_the_old_run_is_untouched(micro_ini, run_env, finished):
    before = snapshot(finished.condor_dir)
    missing = Path(next(n for n in finished.workflow.nodes if n.name == "injections-merge").outputs[0])
    missing.unlink()
    result = second_run(micro_ini, run_env, finished)
    assert snapshot(finished.condor_dir) == before
    done = {path.stem for path in (run_env / "condor2" / "done").iterdir()}
    assert done == {"background-test-1240580983-600", "background-test-1240581583-600",
                    "injections-1240580983-600", "injections-1240581583-600", "rejected-merge"}
    for name in done:
        node = next(n for n in result.workflow.nodes if n.name == name)
        assert why_not_done(run_env / "condor2", name, node.hash) is None
        assert (run_env / "condor2" / "done" / f"{name}.json").read_bytes() == \
            (finished.condor_dir / "done" / f"{name}.json").read_bytes()
    # export reads another model path, so its hash and every hash below it differ: none of them is reused
    old = json.loads((finished.condor_dir / "done" / "export.json").read_text())
    assert old["hash"] != next(n for n in result.workflow.nodes if n.name == "export").hash
    assert f"copied 5 done-marker(s) of earlier runs into {run_env}/condor2/done" in result.notes[0]


def test_the_summary_names_each_reused_stage_and_why(micro_ini, run_env, finished):
    Path(next(n for n in finished.workflow.nodes if n.name == "injections-merge").outputs[0]).unlink()
    result = second_run(micro_ini, run_env, finished, dry_run=True)
    report = build_report(result, dry_run=True)
    old = finished.condor_dir
    model = run_env / "training" / "model.pt"
    assert f"  train: reused model {model} (no training-data, train or tune nodes)" in report
    assert f"  background: 2 of 2 nodes done in {old}" in report
    assert f"  injections: 2 of 2 nodes done in {old}" in report
    assert f"  merge: 1 of 2 nodes done in {old}; 1 run again (injections-merge: " in report
    assert "injections.hdf5 is missing in" in report
    assert "  export: 0 of 1 nodes reused; 1 run again (export: its inputs or arguments changed" in report
    assert not (run_env / "condor2").exists()


def test_a_run_with_other_data_dirs_reuses_nothing_and_says_so(micro_ini, run_env, finished):
    result = second_run(micro_ini, run_env, finished, f"run.test_data_dir={run_env}/test2")
    assert not list((run_env / "condor2" / "done").iterdir())
    assert f"{finished.condor_dir}: no node of this plan is done there" in "\n".join(result.reused)
