"""The tune study: an Optuna study in a journal file shared by every trial node, and DAG node K <-> its trial.

Node K's trial carries the user attribute ``dag_trial = K`` (and ``run_dir``). ``claim`` gives node K exactly one set
of hyper-parameters for the life of the study: a fresh node asks the sampler; a restarted node (killed, rescued,
exit 85) whose trial did not finish marks it FAIL and continues in a new RUNNING trial with the same parameters and
the intermediate values reported so far (created directly in the storage, so no other node can take it); a node
whose trial already finished (COMPLETE or PRUNED) gets its parameters back and no trial to report to.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from executables.common.errors import InputError

log = logging.getLogger(__name__)

DAG_TRIAL = "dag_trial"
RUN_DIR = "run_dir"
METRIC = "valid_auroc"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def parse_param(text: str) -> tuple[str, BaseDistribution]:
    """``path=kind:arg:arg`` (the plan's ``--param``: uniform, loguniform, int, choice) -> (path, distribution)."""
    name, _, spec = text.partition("=")
    kind, *args = spec.split(":")
    try:
        if kind == "choice" and args:
            return name, CategoricalDistribution([yaml.safe_load(arg) for arg in args])
        if kind in ("uniform", "loguniform") and len(args) == 2:
            return name, FloatDistribution(float(args[0]), float(args[1]), log=kind == "loguniform")
        if kind == "int" and len(args) == 2:
            return name, IntDistribution(int(args[0]), int(args[1]))
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError("--param", text, f"bad bounds or values: {exc}") from None
    raise InputError("--param", text, "expected path=uniform|loguniform|int:low:high or path=choice:a:b:...")


def storage(journal: Path) -> optuna.storages.JournalStorage:
    """The study storage: Optuna's journal file at ``journal`` (its directory is created); safe across processes."""
    from optuna.storages.journal import JournalFileBackend

    journal.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))


def open_study(store: optuna.storages.BaseStorage, name: str, sampler: str, seed: int) -> optuna.Study:
    """Create or load the study (maximising the validation metric) with a seeded sampler and a median pruner."""
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    return optuna.create_study(
        storage=store, study_name=name, direction="maximize", load_if_exists=True,
        sampler=samplers[sampler](seed=seed % 2**32),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )


def trials_of(study: optuna.Study, k: int) -> list[FrozenTrial]:
    return [trial for trial in study.get_trials(deepcopy=False) if trial.user_attrs.get(DAG_TRIAL) == k]


def claim(study: optuna.Study, store: optuna.storages.BaseStorage, k: int, run_dir: Path,
          distributions: dict[str, BaseDistribution]) -> tuple[optuna.Trial | None, dict[str, Any]]:
    """Node K's live trial (``None`` when K's trial already finished) and its parameters; see the module text."""
    mine = trials_of(study, k)
    finished = [trial for trial in mine if trial.state in FINISHED]
    if finished:
        log.info("trial for node %d is already %s (number %d)", k, finished[-1].state.name, finished[-1].number)
        return None, dict(finished[-1].params)
    attrs = {DAG_TRIAL: k, RUN_DIR: str(Path(run_dir).absolute())}
    if not mine:
        trial = study.ask(distributions)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        log.info("node %d: new trial %d with %s", k, trial.number, trial.params)
        return trial, dict(trial.params)
    latest = max(mine, key=lambda trial: trial.number)
    for trial in mine:
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    template = FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
        datetime_complete=None, params=dict(latest.params), distributions=dict(latest.distributions),
        user_attrs={**attrs, "continues": latest.number}, system_attrs={},
        intermediate_values=dict(latest.intermediate_values), trial_id=-1,
    )
    trial_id = store.create_new_trial(store.get_study_id_from_name(study.study_name), template)
    trial = optuna.Trial(study, trial_id)
    log.info("node %d: trial %d continues trial %d with the same parameters %s", k, trial.number, latest.number,
             latest.params)
    return trial, dict(latest.params)
