"""``aframe-train``: train the aframe network with Lightning + ml4gw into ``--run-dir`` (DESIGN §6, issue 9).

Outputs in the run directory: ``last.ckpt`` (atomically every ``--checkpoint-minutes`` and after each validation),
``best.ckpt`` (best ``valid_auroc``), ``metrics.csv``, ``training.png``, ``batch.hdf5`` (one augmented, whitened batch:
``X`` (batch, ifos, kernel) and ``y``), and ``model.pt`` last: the TorchScript network taking whitened input, whose
presence means the run is complete. Every start resumes from ``last.ckpt`` when one is there.

``--run-dir`` may be an ``s3://`` prefix (what the Kubernetes pod of ``aframe-remote-train`` gets): training then
runs in a local copy in the job's scratch (``rundir.RemoteRunDir``) that starts from the ``last.ckpt`` on S3, sends
each checkpoint to S3 when it is saved and uploads the outputs, ``model.pt`` last; the done-marker records the objects.

Inputs may be ``s3://`` objects: they are downloaded first (``storage.local_copies``: locked, MD5-checked, reused
when complete) into ``$_CONDOR_SCRATCH_DIR/aframe-inputs`` under HTCondor (the job's own scratch, cleaned by
HTCondor), otherwise into ``<run dir>/.cache`` (kept, so a restarted run does not download again). With ``--device
cuda`` and several visible GPUs, Lightning trains with DDP over all of them; ``trainer.precision``, ``tf32`` and
``compile`` say how each GPU computes (``accelerator``).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import h5py
import torch

from executables.common import storage, trained
from executables.common.atomic import atomic_file, atomic_path, cleanup_stale_temporaries
from executables.common.cli import device_option, given_ifos, node_options, require_device
from executables.common.errors import InputError
from executables.common.hdf5 import create_dataset
from executables.common.seeding import node_seed
from executables.common.shared import data_options
from executables.train.accelerator import lightning_devices, lightning_precision, native_bf16, use_tf32
from executables.train.checkpoints import (
    BEST,
    LAST,
    RunDirCheckpoints,
    StepProgress,
    training_identity,
    usable_checkpoint,
)
from executables.train.config import Shared, read_config
from executables.train.rundir import RemoteRunDir, working_copy

log = logging.getLogger("aframe-train")

OUTPUTS = ("model.pt", LAST, BEST, "batch.hdf5", "metrics.csv", "training.png")
#: The outputs a finished run returns, in upload order: model.pt last.
FINISHED = (LAST, BEST, "batch.hdf5", "metrics.csv", "training.png", "model.pt")


def write_batch(path: Path, X: torch.Tensor, y: torch.Tensor) -> None:
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        create_dataset(handle, "X", data=X.cpu().numpy())
        create_dataset(handle, "y", data=y.cpu().numpy())


def read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def logged_metrics(logs: Path) -> list[dict[str, str]]:
    """The rows of every start's ``logs/version_N/metrics.csv`` in order (each start of a resumed run logs anew)."""
    versions = sorted(logs.glob("version_*/metrics.csv"), key=lambda path: int(path.parent.name.split("_")[1]))
    return [row for path in versions for row in read_metrics(path)]


def plot_metrics(rows: list[dict[str, str]], path: Path) -> None:
    """Training loss against step and validation AUROC against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(x: str, y: str) -> tuple[list[float], list[float]]:
        pairs = [(float(row[x]), float(row[y])) for row in rows if row.get(y) not in (None, "")]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(*series("step", "train_loss_step"), lw=0.8)
    left.set(xlabel="step", ylabel="training loss (BCE)", title="loss")
    right.plot(*series("epoch", "valid_auroc"), marker="o")
    right.set(xlabel="epoch", ylabel="partial AUROC", title="validation")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


def scratch_dir(run_dir: Path) -> Path:
    """Where ``s3://`` inputs are downloaded: HTCondor's job scratch when set, else ``<run dir>/.cache``."""
    condor = os.environ.get("_CONDOR_SCRATCH_DIR")
    return Path(condor) / "aframe-inputs" if condor else Path(run_dir) / ".cache"


def local_inputs(waveforms: str, validation: str, background: Sequence[str],
                 run_dir: Path) -> tuple[Path, Path, list[Path]]:
    """Local files for the inputs (``s3://`` ones downloaded to ``scratch_dir``); a missing one is an InputError."""
    paths = storage.local_copies([waveforms, validation, *background], scratch_dir(run_dir))
    for path in paths:
        if not path.is_file():
            raise InputError(path, None, "input file does not exist")
    return paths[0], paths[1], paths[2:]


def write_outputs(module: Any, datamodule: Any, run_dir: Path) -> None:
    """batch.hdf5, metrics.csv, training.png and, last, model.pt: the network of the best validation."""
    from executables.train.model import build_model, to_torchscript
    from executables.train.module import shared_dict

    best = run_dir / BEST
    if best.exists():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    module = module.to("cpu").eval()
    with torch.no_grad():
        X, y = module.injector(datamodule.stream().batch(0, 0))
    write_batch(run_dir / "batch.hdf5", X, y)
    rows = logged_metrics(run_dir / "logs")
    if rows:
        fields = sorted(set().union(*rows), key=lambda key: (key not in ("epoch", "step"), key))
        with atomic_file(run_dir / "metrics.csv", "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        plot_metrics(rows, run_dir / "training.png")
    network = build_model(module.config["model"], len(module.shared.ifos))  # eager, even when training compiled
    network.load_state_dict(module.model.state_dict())
    scripted = to_torchscript(network, X[:1])
    with atomic_path(run_dir / "model.pt") as temporary:
        torch.jit.save(scripted, str(temporary), _extra_files=trained.extra_files(shared_dict(module.shared)))


def finished_outputs(run_dir: Path) -> list[Path]:
    """The outputs of a finished local run, ``model.pt`` last."""
    return [run_dir / name for name in FINISHED if name == "model.pt" or (run_dir / name).exists()]


def train(*, config: dict[str, Any], shared: Shared, waveforms: str, validation: str, background: Sequence[str],
          device: str, checkpoint_minutes: float, run_dir: Path, max_wallclock: float | None,
          callbacks: Sequence[Any] = (), remote: RemoteRunDir | None = None) -> list[Path] | list[str]:
    """Train (or resume) with the checked ``config`` (``read_config``) and write every output into ``run_dir``;
    ``callbacks`` are extra Lightning callbacks (a tune trial's pruning). ``remote``: ``run_dir`` is the local copy
    of an ``s3://`` run dir (``rundir.working_copy``). Returns the outputs (paths or URLs), ``model.pt`` last."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    from executables.train.module import AframeData, AframeModule, shared_dict

    require_device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale_temporaries(run_dir, OUTPUTS)  # a resumed run may never write best.ckpt etc. again
    local_waveforms, local_validation, local_background = local_inputs(waveforms, validation, background, run_dir)

    pl.seed_everything(node_seed(shared.seed, "train") % 2**32, workers=True, verbose=False)
    datamodule = AframeData(config, shared, local_background, local_waveforms, local_validation)
    module = AframeModule(config, shared_dict(shared))
    trainer_config = config["trainer"]
    identity = training_identity(config, shared, waveforms, validation, list(background))
    devices, strategy = lightning_devices(device, torch.cuda.device_count() if device == "cuda" else 0)
    if device == "cuda":
        use_tf32(trainer_config["tf32"])
    if trainer_config["compile"]:
        module.model.compile()  # in place: parameters and state-dict keys stay the eager module's
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=devices,
        strategy=strategy,
        use_distributed_sampler=False,  # every rank scores the whole validation set; training batches are per rank
        max_epochs=int(trainer_config["max_epochs"]),
        precision=lightning_precision(trainer_config["precision"], device, device == "cuda" and native_bf16()),
        log_every_n_steps=int(trainer_config["log_every_n_steps"]),
        logger=CSVLogger(run_dir / "logs", name=""),  # logs/version_N: a resumed start keeps the earlier rows
        callbacks=[RunDirCheckpoints(run_dir, 60.0 * checkpoint_minutes, max_wallclock,
                                     publish=remote.publish if remote else None, identity=identity), StepProgress(),
                   EarlyStopping("valid_auroc", mode="max", patience=int(trainer_config["patience"]),
                                 check_on_train_epoch_end=False, strict=False), *callbacks],
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True if device == "cpu" else "warn",  # cuBLAS/scatter kernels: warn, do not fail
    )
    resume = usable_checkpoint(run_dir, identity)
    if resume is not None:
        log.info("resuming from %s", resume)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    if trainer.is_global_zero:
        write_outputs(module, datamodule, run_dir)
        if remote is not None:
            remote.push(finished_outputs(run_dir))
    trainer.strategy.barrier("aframe-train outputs")
    return remote.verified(FINISHED) if remote is not None else finished_outputs(run_dir)


TRAINING_OPTIONS = (
    click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
                 help="train.yaml: model, optimizer, data, validation and trainer sections."),
    click.option("--waveforms", required=True, help="Training polarizations (WaveformSet): a path or s3:// URL."),
    click.option("--validation", required=True, help="Validation responses (ResponseSet): a path or s3:// URL."),
    click.option("--background", multiple=True, help="A training background file or s3:// URL (repeat)."),
    data_options(),
    click.option("--seed", type=int, required=True),
    device_option(),
    click.option("--checkpoint-minutes", type=float, default=30.0, show_default=True,
                 help="Save last.ckpt at least this often."),
    click.option("--max-wallclock", type=float, default=None,
                 help="Seconds; past this, save last.ckpt and exit 85 to be started again."),
    click.option("--run-dir", type=storage.PathOrUrl(), required=True,
                 help="Where checkpoints and outputs go: a directory or an s3:// prefix."),
)


def training_options(body: Callable[..., Any]) -> Callable[..., Any]:
    """The command-line options every training program takes (aframe-train, aframe-tune-trial)."""
    for option in reversed(TRAINING_OPTIONS):
        body = option(body)
    return body


def training_arguments(*, background: tuple[str, ...], ifos: str, sample_rate: float,
                       highpass: float, lowpass: float | None, fduration: float, kernel_length: float,
                       inference_sampling_rate: float, seed: int, checkpoint_minutes: float,
                       **rest: Any) -> dict[str, Any]:
    """The options of ``training_options`` checked and turned into ``train``'s keyword arguments (config unread)."""
    if not background:
        raise InputError("--background", None, "no background files given")
    for name, value in (("--sample-rate", sample_rate), ("--kernel-length", kernel_length),
                        ("--fduration", fduration), ("--checkpoint-minutes", checkpoint_minutes)):
        if not (math.isfinite(value) and value > 0):
            raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)
    shared = Shared(tuple(given_ifos(ifos)), sample_rate, highpass, lowpass, fduration, kernel_length,
                    inference_sampling_rate, seed)
    return {"shared": shared, "background": list(background), "checkpoint_minutes": checkpoint_minutes, **rest}


@click.command(name="aframe-train")
@node_options
@training_options
def main(config_path: Path, run_dir: Path | str, **options: Any) -> list[Path] | list[str]:
    config = read_config(config_path)
    with working_copy(run_dir) as (local, remote):
        return train(config=config, remote=remote, **training_arguments(run_dir=local, **options))
