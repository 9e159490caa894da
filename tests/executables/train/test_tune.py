"""aframe-tune-trial and aframe-tune-select on tiny synthetic data: one parameter set per node, resume, selection."""

from __future__ import annotations

import json
import math

import optuna
import pytest
import torch
import yaml
from click.testing import CliRunner
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from executables.common.errors import InputError
from executables.train.config import read_config, set_values
from executables.train.study import DAG_TRIAL, claim, open_study, parse_param, storage, trials_of
from executables.train.tune_select import main as select_main
from executables.train.tune_trial import main as trial_main

from .conftest import TINY_CONFIG, cli_args

SPACE = ("optimizer.learning_rate=loguniform:1e-4:1e-2", "data.waveform_prob=uniform:0.3:0.7")


def test_param_kinds_become_optuna_distributions():
    assert parse_param("optimizer.learning_rate=loguniform:1e-4:1e-2") == (
        "optimizer.learning_rate", FloatDistribution(1e-4, 1e-2, log=True))
    assert parse_param("a.b=uniform:0:1") == ("a.b", FloatDistribution(0.0, 1.0))
    assert parse_param("model.norm_groups=int:4:16") == ("model.norm_groups", IntDistribution(4, 16))
    assert parse_param("model.norm_groups=choice:4:8") == ("model.norm_groups", CategoricalDistribution([4, 8]))
    for bad in ("a.b=normal:0:1", "a.b=uniform:0", "a.b=int:x:3"):
        with pytest.raises(InputError):
            parse_param(bad)


def test_set_values_checks_paths_and_ranges(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG))
    config = read_config(path)
    changed = set_values(path, config, {"optimizer.learning_rate": 0.01, "trainer.max_epochs": 7})
    assert changed["optimizer"]["learning_rate"] == 0.01 and changed["trainer"]["max_epochs"] == 7
    assert config["trainer"]["max_epochs"] == TINY_CONFIG["trainer"]["max_epochs"]  # a copy
    for values, field in (({"optimizer.lr": 1.0}, "optimizer.lr"), ({"data.snr": 3}, "data.snr"),
                          ({"data.waveform_prob": 2.0}, "data.waveform_prob")):
        with pytest.raises(InputError) as caught:
            set_values(path, config, values)
        assert caught.value.field == field


def test_a_node_keeps_its_parameters_across_restarts(tmp_path):
    """Node K: new trial; restarted while RUNNING -> FAIL + a RUNNING copy with the same parameters and reports;
    after it finishes, no new trial at all; another node gets its own trial."""
    journal = tmp_path / "tune" / "study.journal"
    space = dict(parse_param(text) for text in SPACE)
    store = storage(journal)
    study = open_study(store, "s", "random", 7)
    first, params = claim(study, store, 0, tmp_path / "t0", space)
    first.report(0.6, 0)
    again = open_study(storage(journal), "s", "random", 7)  # a new process reading the same journal
    second, same = claim(again, store, 0, tmp_path / "t0", space)
    assert same == params and second.number != first.number
    assert second.params == params
    states = {trial.number: trial.state for trial in trials_of(again, 0)}
    assert states == {first.number: TrialState.FAIL, second.number: TrialState.RUNNING}
    assert again.trials[second.number].intermediate_values == {0: 0.6}
    again.tell(second, 0.7)
    done, kept = claim(again, store, 0, tmp_path / "t0", space)
    assert done is None and kept == params
    node1 = open_study(store, "s", "random", 7 + 1)  # each node seeds its sampler with seed + K
    other, other_params = claim(node1, store, 1, tmp_path / "t1", space)
    assert other.user_attrs[DAG_TRIAL] == 1 and other_params != params
    assert len(node1.trials) == 3


def trial_args(inputs, run_dir, journal, k: int, **override: str) -> list[str]:
    return cli_args(inputs, run_dir, **override) + [
        "--journal", str(journal), "--study", "tiny", "--sampler", "random", "--max-epochs", "2", "--trial", str(k),
        *(item for text in SPACE for item in ("--param", text))]


def test_trials_resume_with_their_parameters_and_select_copies_the_best(tiny_inputs, tmp_path):
    journal, runs = tmp_path / "condor" / "tune" / "study.journal", tmp_path / "training"
    run = CliRunner().invoke
    # node 1 is stopped mid-run (its wall-clock budget: exit 85) and started again
    stopped = run(trial_main, trial_args(tiny_inputs, runs / "trials/trial-001", journal, 1,
                                         **{"--max-wallclock": "0"}), catch_exceptions=False)
    assert stopped.exit_code == 85
    for k in range(3):
        result = run(trial_main, trial_args(tiny_inputs, runs / f"trials/trial-{k:03d}", journal, k),
                     catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert (runs / f"trials/trial-{k:03d}/model.pt").is_file()
    study = optuna.load_study(study_name="tiny", storage=storage(journal))
    by_node = {k: trials_of(study, k) for k in range(3)}
    assert [trial.state for trial in by_node[1]] == [TrialState.FAIL, TrialState.COMPLETE]
    assert by_node[1][0].params == by_node[1][1].params  # the restarted node kept its parameters
    finished = [trial for k in range(3) for trial in by_node[k] if trial.state != TrialState.FAIL]
    assert len(finished) == 3 and all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in finished)
    assert len({json.dumps(trial.params, sort_keys=True) for trial in finished}) == 3
    resumed = torch.load(runs / "trials/trial-001/last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 2 * TINY_CONFIG["data"]["batches_per_epoch"]
    assert resumed["hyper_parameters"]["config"]["optimizer"]["learning_rate"] == pytest.approx(
        by_node[1][0].params["optimizer.learning_rate"])

    # a node whose trial finished is not trained or told again
    rerun = run(trial_main, trial_args(tiny_inputs, runs / "trials/trial-000", journal, 0), catch_exceptions=False)
    assert rerun.exit_code == 0 and len(optuna.load_study(study_name="tiny", storage=storage(journal)).trials) == 4

    output = runs / "model.pt"
    models = [str(runs / f"trials/trial-{k:03d}/model.pt") for k in range(3)]
    select = run(select_main, ["--journal", str(journal), "--study", "tiny", "--sampler", "random",
                               "--max-epochs", "2", "--device", "cpu", "--output", str(output),
                               *(item for model in models for item in ("--trial", model))], catch_exceptions=False)
    assert select.exit_code == 0, select.output
    summary = json.loads((runs / "tune-summary.json").read_text())
    complete = [trial for trial in finished if trial.state == TrialState.COMPLETE]
    best = max(complete, key=lambda trial: trial.value)
    assert summary["best"]["number"] == best.number and summary["best_params"] == best.params
    assert math.isclose(summary["best"]["value"], best.value)
    assert len(summary["trials"]) == 4
    source = runs / f"trials/trial-{best.user_attrs[DAG_TRIAL]:03d}"
    for name in ("model.pt", "batch.hdf5", "best.ckpt"):
        assert (runs / name).read_bytes() == (source / name).read_bytes(), name
    assert (runs / "tune-history.png").stat().st_size > 0


def test_select_without_a_complete_trial_exits_2(tmp_path):
    journal = tmp_path / "study.journal"
    store = storage(journal)
    study = open_study(store, "s", "tpe", 0)
    space = dict(parse_param(text) for text in SPACE)
    models = []
    for k in range(2):
        trial, _ = claim(study, store, k, tmp_path / f"t{k}", space)
        trial.report(0.5, 0)
        study.tell(trial, state=TrialState.PRUNED)
        models += ["--trial", str(tmp_path / f"t{k}" / "model.pt")]
    result = CliRunner().invoke(select_main, ["--journal", str(journal), "--study", "s", "--max-epochs", "2",
                                              "--output", str(tmp_path / "model.pt"), *models])
    assert result.exit_code == 2
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "tune-summary.json").exists()
    missing = CliRunner().invoke(select_main, ["--journal", str(tmp_path / "absent"), "--study", "s",
                                               "--max-epochs", "2", "--output", str(tmp_path / "model.pt"), *models])
    assert missing.exit_code == 2


def test_a_pruned_trial_stops_early_writes_its_model_and_is_never_selected(tiny_inputs, tmp_path):
    """Two finished trials of other nodes scored 1.0 at every epoch: the median pruner stops node 0 after its
    second epoch (of three); it still writes model.pt, is told PRUNED, and select finds no COMPLETE trial of its own."""
    journal, run_dir = tmp_path / "study.journal", tmp_path / "trials" / "trial-000"
    study = open_study(storage(journal), "tiny", "random", 0)
    space = dict(parse_param(text) for text in SPACE)
    for k in (10, 11):
        study.add_trial(optuna.trial.create_trial(
            params={name: distribution.low for name, distribution in space.items()}, distributions=space,
            value=1.0, intermediate_values={0: 1.0, 1: 1.0, 2: 1.0}, user_attrs={DAG_TRIAL: k}))
    args = trial_args(tiny_inputs, run_dir, journal, 0)
    args[args.index("--max-epochs") + 1] = "3"
    result = CliRunner().invoke(trial_main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (trial,) = trials_of(optuna.load_study(study_name="tiny", storage=storage(journal)), 0)
    assert trial.state == TrialState.PRUNED and sorted(trial.intermediate_values) == [0, 1]
    assert (run_dir / "model.pt").is_file()
    last = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 2 * TINY_CONFIG["data"]["batches_per_epoch"]
    select = CliRunner().invoke(select_main, ["--journal", str(journal), "--study", "tiny", "--max-epochs", "3",
                                              "--output", str(tmp_path / "model.pt"), "--trial",
                                              str(run_dir / "model.pt")])
    assert select.exit_code == 2 and not (tmp_path / "model.pt").exists()
