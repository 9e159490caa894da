"""``aframe-tune-select``: the best COMPLETE trial of the tune study becomes the run's network (DESIGN §6 Tune).

Reads the study from ``--journal``, keeps the trials whose run dirs hold the given ``--trial`` model.pt files, picks the
COMPLETE one with the highest ``valid_auroc`` (PRUNED and FAIL trials never win) and copies its ``batch.hdf5``,
``best.ckpt``, ``metrics.csv``, ``training.png`` and, last, ``model.pt`` (to ``--output``) into ``--output``'s
directory, each atomically. Next to them: ``tune-summary.json`` (every trial: number, node, state, value, parameters,
epochs reported; the best trial and its parameters) and ``tune-history.png`` (Optuna's optimisation history).
No COMPLETE trial is a permanent failure (exit 2) that says how the trials ended.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import click
import optuna
from optuna.trial import FrozenTrial, TrialState

from executables.common.atomic import atomic_file, atomic_path
from executables.common.cli import device_option, node_options, require_device
from executables.common.errors import InputError, PermanentError
from executables.train.study import DAG_TRIAL, METRIC, RUN_DIR, storage

log = logging.getLogger("aframe-tune-select")

# copied from the best trial's run dir, model.pt last (the completion marker)
COPIED = ("batch.hdf5", "best.ckpt", "metrics.csv", "training.png", "model.pt")
SUMMARY, HISTORY = "tune-summary.json", "tune-history.png"


def load(journal: Path, name: str) -> optuna.Study:
    if not journal.is_file():
        raise InputError(journal, None, "no tune journal here: did the tune-trial nodes run?")
    try:
        return optuna.load_study(study_name=name, storage=storage(journal))
    except KeyError:
        raise InputError(journal, name, "no study of this name in the journal") from None


def row(trial: FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "node": trial.user_attrs.get(DAG_TRIAL), "state": trial.state.name,
            "value": trial.value, "params": trial.params, "epochs_reported": len(trial.intermediate_values),
            "run_dir": trial.user_attrs.get(RUN_DIR)}


def plot_history(study: optuna.Study, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = optuna.visualization.matplotlib.plot_optimization_history(study, target_name=METRIC)
    with atomic_path(path) as temporary:
        axes.figure.savefig(temporary, format="png", dpi=100, bbox_inches="tight")
    plt.close(axes.figure)


def select(*, journal: Path, study_name: str, sampler: str, max_epochs: int, output: Path,
           trial_models: tuple[Path, ...]) -> list[Path]:
    """Copy the best COMPLETE trial's outputs next to ``output``; write the summary and history plot."""
    study = load(journal, study_name)
    given = {str(Path(model).parent.absolute()) for model in trial_models}
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.user_attrs.get(RUN_DIR) in given]
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    if not complete:
        states = Counter(trial.state.name for trial in trials)
        ended = ", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "none recorded"
        raise PermanentError(f"{journal}: study {study_name!r} has no COMPLETE trial among the {len(given)} trial "
                             f"nodes ({ended}): every trial was pruned or failed, so there is no network to select")
    best = max(complete, key=lambda trial: trial.value)
    source = Path(best.user_attrs[RUN_DIR])
    if not (source / "model.pt").is_file():
        raise InputError(source / "model.pt", None, f"trial {best.number} is the best but its model.pt is missing")
    log.info("best trial %d (node %s): %s %.4f with %s", best.number, best.user_attrs[DAG_TRIAL], METRIC, best.value,
             best.params)
    directory = output.parent
    summary = {"study": study_name, "metric": METRIC, "direction": "maximize", "sampler": sampler,
               "max_epochs": max_epochs, "best": row(best), "best_params": best.params,
               "trials": [row(trial) for trial in sorted(trials, key=lambda trial: trial.number)]}
    with atomic_file(directory / SUMMARY, "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    plot_history(study, directory / HISTORY)
    written = [directory / SUMMARY, directory / HISTORY]
    for name in COPIED:
        if (source / name).is_file():
            target = output if name == "model.pt" else directory / name
            with atomic_path(target) as temporary:
                shutil.copyfile(source / name, temporary)
            written.append(target)
    return written


@click.command(name="aframe-tune-select")
@node_options
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Optuna journal file of the study.")
@click.option("--study", "study_name", required=True, help="Study name.")
@click.option("--sampler", type=click.Choice(["tpe", "random"]), default="tpe", show_default=True,
              help="The study's sampler (recorded in the summary).")
@click.option("--max-epochs", type=click.IntRange(min=1), required=True,
              help="Epoch budget of each trial (recorded in the summary).")
@device_option("Selection only copies files; cuda must still be usable when asked for.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="model.pt of the run; the other files go next to it.")
@click.option("--trial", "trial_models", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              required=True, help="A trial's model.pt (repeat): the trials to choose from.")
def main(journal: Path, study_name: str, sampler: str, max_epochs: int, device: str, output: Path,
         trial_models: tuple[Path, ...]) -> list[Path]:
    require_device(device)
    return select(journal=journal, study_name=study_name, sampler=sampler, max_epochs=max_epochs, output=output,
                  trial_models=trial_models)
