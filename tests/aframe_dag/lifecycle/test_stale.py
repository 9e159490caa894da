"""Stale rescue entries: `build --force`, `resubmit` and `run` refuse a rescue file whose DONE nodes are not done."""

from __future__ import annotations

import os
import re
import shlex

import pytest

from aframe_dag.builder.build import build
from aframe_dag.cli.main import main
from aframe_dag.cli.run import run_local
from aframe_dag.condordir.dag import load_dag
from aframe_dag.errors import UserError
from aframe_dag.lifecycle.resubmit import resubmit_plan
from aframe_dag.lifecycle.stale import stale_refusal
from tests.aframe_dag.lifecycle.conftest import snapshot


def _command(message: str) -> list[str]:
    """The `aframe-dag invalidate ...` words a refusal names."""
    return shlex.split(re.search(r"`aframe-dag (invalidate [^`]+)`", message).group(1))


def test_a_config_edit_makes_build_force_refuse_until_invalidated(micro_run, micro_ini, capsys):
    condor = micro_run.condor_dir
    before = snapshot(condor)
    with pytest.raises(UserError) as refused:
        build(micro_ini, ["export.tolerance=1e-3"], force=True)
    message = str(refused.value)
    assert "aframe.dag.rescue001 marks 4 node(s) DONE that are no longer done (export: its inputs or arguments " \
           "changed" in message
    assert "infer-0000" in message and "aggregate" in message and "then build --force again" in message
    assert _command(message) == ["invalidate", "export", "--downstream", str(condor)]
    assert snapshot(condor) == before  # refused before writing anything

    with pytest.raises(SystemExit) as exit_info:
        main(_command(message))
    assert exit_info.value.code == 0
    assert "will rerun 5 node(s): export, infer-0000, infer-0001, aggregate, sv" in capsys.readouterr().out
    forced = build(micro_ini, ["export.tolerance=1e-3"], force=True)
    assert "aframe.dag" in forced.written
    resubmit_plan(condor)  # the new rescue file fits the new DAG


def test_resubmit_and_run_refuse_a_rescue_whose_marker_is_gone(micro_run):
    condor = micro_run.condor_dir
    (condor / "done" / "waveforms-val-000.json").unlink()
    with pytest.raises(UserError) as refused:
        resubmit_plan(condor)
    message = str(refused.value)
    assert "waveforms-val-000: no done-marker" in message and "then resubmit again" in message
    # its children's hashes did not change: only the node itself must rerun
    assert _command(message) == ["invalidate", "waveforms-val-000", str(condor)]
    with pytest.raises(UserError, match="then run again"):
        run_local(condor, 1, "", [], False, True)
    assert run_local(condor, 1, "", ["sv"], False, True) == 0  # --only ignores the rescue file


def test_a_missing_output_is_stale_too_and_resubmit_from_an_older_rescue_is_checked(micro_run):
    condor = micro_run.condor_dir
    (condor / "aframe.dag.rescue002").write_text("DONE train\n")
    model = next(n for n in micro_run.workflow.nodes if n.name == "train").outputs[0]
    os.unlink(model)
    assert "train:" in stale_refusal(condor, load_dag(condor))
    with pytest.raises(UserError, match=r"aframe.dag.rescue001 marks 1 node\(s\) DONE .* is missing"):
        resubmit_plan(condor, 1)


def test_a_rescue_that_still_holds_passes(micro_run):
    assert stale_refusal(micro_run.condor_dir, load_dag(micro_run.condor_dir)) is None
    plan = resubmit_plan(micro_run.condor_dir)
    assert plan.rescue.name == "aframe.dag.rescue001"
