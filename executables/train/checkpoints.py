"""Self-checkpointing into the run directory: ``last.ckpt`` on a timer and at the end of every epoch, ``best.ckpt`` on
the best ``valid_auroc``, both written atomically; an optional wall-clock budget ends the run with exit 85.

The budget is checked after each training step except an epoch's last, and at the end of each epoch: stopping after
the last step would save a checkpoint whose epoch Lightning counts as finished before it was validated, so the
resumed run would skip that validation. The end-of-epoch ``last.ckpt`` is written after every callback has seen the
validation (early stopping, a tune trial's pruning), so a resumed run continues from their state too. ``publish``
is called with each checkpoint rank 0 saved (an ``s3://`` run dir uploads it: ``rundir.RemoteRunDir``).

Each checkpoint records the identity of the training that wrote it (``training_identity``: train.yaml, the shared
parameters and the inputs). A run dir whose checkpoints another configuration wrote -- train.yaml edited and the
node rerun -- is not resumed from them: they and that run's logs are kept aside under ``*.config-<identity>`` and
training starts afresh (resuming would carry the old epoch count and learning-rate schedule into the new one)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from executables.common.atomic import atomic_path
from executables.common.errors import CheckpointAndRequeue
from executables.common.logs import Progress

log = logging.getLogger(__name__)

LAST, BEST = "last.ckpt", "best.ckpt"


class RunDirCheckpoints(pl.Callback):
    """Write ``last.ckpt``/``best.ckpt`` under ``run_dir``; raise ``CheckpointAndRequeue`` past ``max_wallclock``."""

    def __init__(self, run_dir: Path, every_seconds: float, max_wallclock: float | None = None,
                 publish: Callable[[Path], None] | None = None, identity: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.identity = identity
        self.publish = publish
        self.every = every_seconds
        self.max_wallclock = max_wallclock
        self.started = time.monotonic()
        self.saved = self.started
        self.best: float | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "identity": self.identity}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")

    def save(self, trainer: pl.Trainer, name: str) -> None:
        if trainer.logger is not None:  # flush the metrics logged so far: a requeued start keeps them
            trainer.logger.save()
        if trainer.is_global_zero:
            with atomic_path(self.run_dir / name) as temporary:
                trainer.save_checkpoint(temporary)
            if self.publish is not None:
                self.publish(self.run_dir / name)
        else:  # a collective call under DDP, where only global rank 0 writes
            trainer.save_checkpoint(self.run_dir / name)
        if name == LAST:
            self.saved = time.monotonic()
        log.info("saved %s at epoch %d, step %d", name, trainer.current_epoch, trainer.global_step)

    def over_budget(self, trainer: pl.Trainer) -> tuple[bool, bool]:
        """(past ``max_wallclock``, a timed save is due), by rank 0's clock so every DDP rank acts together."""
        now = time.monotonic()
        over = self.max_wallclock is not None and now - self.started >= self.max_wallclock
        return trainer.strategy.broadcast((over, now - self.saved >= self.every), src=0)

    def requeue(self, trainer: pl.Trainer) -> None:
        self.save(trainer, LAST)
        raise CheckpointAndRequeue(f"--max-wallclock {self.max_wallclock:g} s reached at epoch "
                                   f"{trainer.current_epoch}, step {trainer.global_step}")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        over, due = self.over_budget(trainer)
        if over and batch_idx + 1 < trainer.num_training_batches:  # the epoch's last step: wait for its end
            self.requeue(trainer)
        if due:
            self.save(trainer, LAST)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get("valid_auroc")
        if score is not None and (self.best is None or float(score) > self.best):
            self.best = float(score)
            self.save(trainer, BEST)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.over_budget(trainer)[0]:
            self.requeue(trainer)
        self.save(trainer, LAST)


def best_score(run_dir: Path) -> float | None:
    """The best ``valid_auroc`` of the whole run (every start), as ``last.ckpt`` records it: ``best.ckpt``'s score."""
    path = Path(run_dir) / LAST
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False).get("callbacks", {})
    return state.get(RunDirCheckpoints.__qualname__, {}).get("best")


def training_identity(*parts: Any) -> str:
    """A short digest of what defines one training (config, shared parameters, inputs): JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _written_by(state: dict[str, Any]) -> str | None:
    """The training identity a checkpoint records (None for checkpoints from before identities were recorded)."""
    for value in state.get("callbacks", {}).values():
        if isinstance(value, dict) and value.get("identity"):
            return value["identity"]
    return None


def _set_aside(run_dir: Path, identity: str) -> None:
    """Keep another configuration's checkpoints and logs under *.config-<identity>; nothing is deleted."""
    for name in (LAST, BEST, "logs"):
        path = run_dir / name
        if path.exists():
            path.replace(run_dir / f"{name}.config-{identity}")
    log.warning("%s holds checkpoints of another training configuration (%s): kept as *.config-%s, starting "
                "afresh", run_dir, identity, identity)


def usable_checkpoint(run_dir: Path, identity: str | None = None) -> Path | None:
    """The checkpoint to resume from: ``last.ckpt``, else ``best.ckpt``; an unreadable one is moved aside with a
    warning (so a corrupt file never makes the node fail again and again), and one that another configuration
    wrote is set aside with its run's logs."""
    for name in (LAST, BEST):
        path = Path(run_dir) / name
        if not path.exists():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or "state_dict" not in state or "loops" not in state:
                raise ValueError("not a Lightning checkpoint")
        except Exception as exc:  # a torn or foreign file: keep it for inspection, resume from the next one
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.replace(aside)
            log.warning("%s is unreadable (%s: %s); moved to %s and falling back", path, type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "", aside.name)
            continue
        written_by = _written_by(state)
        if identity is not None and written_by is not None and written_by != identity:
            _set_aside(Path(run_dir), written_by)
            return None
        return path
    return None


class StepProgress(pl.Callback):
    """Log training steps with rate and ETA (``logs.Progress``: a line every 30 s, a bar on a terminal)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = int(trainer.estimated_stepping_batches)
        self.progress = Progress(total, "training steps", log)
        self.progress.done = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.progress is not None:
            self.progress.update()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.progress is not None:
            self.progress.close()
