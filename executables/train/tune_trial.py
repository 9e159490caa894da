"""``aframe-tune-trial``: one trial of the tune study, trained by ``aframe-train``'s own code (DESIGN §6 Tune).

Node ``--trial K`` takes its hyper-parameters from the study in the journal file ``--journal`` (``study.claim``: a
restarted node always gets K's parameters back and resumes from its ``last.ckpt``), sets them on train.yaml's dotted
paths, trains for ``--max-epochs`` and reports ``valid_auroc`` after each epoch to the median pruner. A pruned trial
stops early but still writes its run dir's ``model.pt`` (the node's output) and is told PRUNED; a finished one is
told its best ``valid_auroc`` over every start (``checkpoints.best_score``), the score of the network in
``model.pt``. The sampler (tpe | random) is seeded from ``--seed + K``; trials are exempt from byte-reproducibility
(DESIGN §12: the sampler depends on completion order).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import lightning.pytorch as pl
import optuna
from optuna.trial import TrialState

from executables.common.cli import node_options
from executables.common.errors import InputError, PermanentError
from executables.common.storage import is_remote
from executables.train.checkpoints import LAST, best_score
from executables.train.config import read_config, set_values
from executables.train.study import METRIC, claim, open_study, parse_param, storage
from executables.train.train import OUTPUTS, train, training_arguments, training_options

log = logging.getLogger("aframe-tune-trial")


class Pruning(pl.Callback):
    """Report ``valid_auroc`` to the trial after each validation; stop training (not fail) when it is pruned."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        score = trainer.callback_metrics.get(METRIC)
        if trainer.sanity_checking or score is None:
            return
        prune = False
        if trainer.is_global_zero:
            self.trial.report(float(score), trainer.current_epoch)
            prune = self.trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):
            log.info("trial %d pruned after epoch %d (%s %.4f)", self.trial.number, trainer.current_epoch, METRIC,
                     float(score))
            self.pruned = True
            trainer.should_stop = True


def tune_trial(*, config_path: Path, journal: Path, study_name: str, sampler: str, max_epochs: int,
               params: tuple[str, ...], trial_index: int, train_arguments: dict[str, Any]) -> list[Path]:
    """Claim node K's trial, train with its parameters and tell the study how it ended; returns train's outputs."""
    distributions = dict(parse_param(text) for text in params)
    config = read_config(config_path)
    store = storage(journal)
    study = open_study(store, study_name, sampler, train_arguments["shared"].seed + trial_index)
    run_dir: Path = train_arguments["run_dir"]
    trial, values = claim(study, store, trial_index, run_dir, distributions)
    if trial is None and (run_dir / "model.pt").is_file():  # finished earlier; only the done-marker was missing
        return sorted(path for path in run_dir.iterdir() if path.name in OUTPUTS and path.name != "model.pt") + [
            run_dir / "model.pt"]
    config = set_values(config_path, config, {**values, "trainer.max_epochs": max_epochs})
    pruning = [Pruning(trial)] if trial is not None else []
    outputs = train(config=config, callbacks=pruning, **train_arguments)
    if trial is None:  # K's trial finished but its model.pt was gone: written again, the study is unchanged
        return outputs
    if pruning[0].pruned:
        study.tell(trial, state=TrialState.PRUNED)
        return outputs
    value = best_score(run_dir)
    if value is None:
        study.tell(trial, state=TrialState.FAIL)
        raise PermanentError(f"{run_dir / LAST}: records no {METRIC}, so trial {trial.number} has no value (does "
                             "the validation set hold signals and background?)")
    study.tell(trial, value)
    log.info("trial %d (node %d) complete: %s %.4f with %s", trial.number, trial_index, METRIC, value, values)
    return outputs


@click.command(name="aframe-tune-trial")
@node_options
@training_options
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Optuna journal file of the study (shared by every trial; created when absent).")
@click.option("--study", "study_name", required=True, help="Study name.")
@click.option("--sampler", type=click.Choice(["tpe", "random"]), default="tpe", show_default=True)
@click.option("--max-epochs", type=click.IntRange(min=1), required=True, help="Epoch budget of the trial.")
@click.option("--param", "params", multiple=True,
              help="Search-space entry path=kind:args, e.g. optimizer.learning_rate=loguniform:1e-4:1e-2 (repeat).")
@click.option("--trial", "trial_index", type=click.IntRange(min=0), required=True,
              help="This node's trial number K in the DAG.")
def main(config_path: Path, journal: Path, study_name: str, sampler: str, max_epochs: int, params: tuple[str, ...],
         trial_index: int, **options: Any) -> list[Path]:
    if is_remote(options["run_dir"]):  # the study and tune-select read trial run dirs as local paths
        raise InputError(options["run_dir"], "--run-dir", "tune trials train in a local run dir, not on S3")
    return tune_trial(config_path=config_path, journal=journal, study_name=study_name, sampler=sampler,
                      max_epochs=max_epochs, params=params, trial_index=trial_index,
                      train_arguments=training_arguments(**options))
