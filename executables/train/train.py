"""``aframe-train``: train the aframe network with Lightning + ml4gw into ``--run-dir`` (DESIGN §6, issue 9).

Outputs in the run directory: ``last.ckpt`` (atomically every ``--checkpoint-minutes`` and after each validation),
``best.ckpt`` (best ``valid_auroc``), ``metrics.csv``, ``training.png``, ``batch.hdf5`` (one augmented, whitened batch:
``X`` (batch, ifos, kernel) and ``y``), and ``model.pt`` last: the TorchScript network taking whitened input, whose
presence means the run is complete. Every start resumes from ``last.ckpt`` when one is there.
"""

from __future__ import annotations

import csv
import logging
import math
import shutil
from pathlib import Path

import click
import h5py
import torch

from executables.common.atomic import atomic_path, cleanup_stale_temporaries
from executables.common.cli import node_options
from executables.common.errors import InputError
from executables.common.seeding import node_seed
from executables.data.background import require_device
from executables.train.checkpoints import BEST, LAST, RunDirCheckpoints, StepProgress, usable_checkpoint
from executables.train.config import Shared, read_config

log = logging.getLogger("aframe-train")

OUTPUTS = ("model.pt", LAST, BEST, "batch.hdf5", "metrics.csv", "training.png")


def _ifos(value: str) -> tuple[str, ...]:
    ifos = tuple(part.strip() for part in value.split(",") if part.strip())
    if not ifos:
        raise click.BadParameter("give at least one ifo, e.g. H1,L1", param_hint="--ifos")
    return ifos


def write_batch(path: Path, X: torch.Tensor, y: torch.Tensor) -> None:
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        handle.create_dataset("X", data=X.cpu().numpy())
        handle.create_dataset("y", data=y.cpu().numpy())


def read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


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


def train(*, config_path: Path, shared: Shared, waveforms: Path, validation: Path, background: list[Path],
          device: str, checkpoint_minutes: float, run_dir: Path, max_wallclock: float | None) -> list[Path]:
    """Train (or resume) and write every output into ``run_dir``; returns the outputs, ``model.pt`` last."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    from executables.train.model import to_torchscript
    from executables.train.module import AframeData, AframeModule, shared_dict

    require_device(device)
    config = read_config(config_path)
    for path in (waveforms, validation, *background):
        if not Path(path).is_file():
            raise InputError(path, None, "input file does not exist")
    run_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale_temporaries(run_dir, OUTPUTS)

    pl.seed_everything(node_seed(shared.seed, "train") % 2**32, workers=True, verbose=False)
    datamodule = AframeData(config, shared, background, waveforms, validation)
    module = AframeModule(config, shared_dict(shared))
    trainer_config = config["trainer"]
    logs = run_dir / "logs"
    checkpoints = RunDirCheckpoints(run_dir, 60.0 * checkpoint_minutes, max_wallclock)
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        max_epochs=int(trainer_config["max_epochs"]),
        precision=trainer_config["precision"],
        log_every_n_steps=int(trainer_config["log_every_n_steps"]),
        logger=CSVLogger(logs, name="", version=""),
        callbacks=[checkpoints, StepProgress(),
                   EarlyStopping("valid_auroc", mode="max", patience=int(trainer_config["patience"]),
                                 check_on_train_epoch_end=False, strict=False)],
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True if device == "cpu" else "warn",  # cuBLAS/scatter kernels: warn, do not fail
    )
    resume = usable_checkpoint(run_dir)
    if resume is not None:
        log.info("resuming from %s", resume)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)

    # the network of the best validation, when there is one
    best = run_dir / BEST
    if best.exists():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    module = module.to("cpu").eval()
    with torch.no_grad():
        X, y = module.injector(datamodule.stream().batch(0, 0))
    write_batch(run_dir / "batch.hdf5", X, y)
    metrics = logs / "metrics.csv"
    rows = read_metrics(metrics)
    if metrics.exists():
        with atomic_path(run_dir / "metrics.csv") as temporary:
            shutil.copyfile(metrics, temporary)
        plot_metrics(rows, run_dir / "training.png")
    scripted = to_torchscript(module.model, X[:1])
    with atomic_path(run_dir / "model.pt") as temporary:
        torch.jit.save(scripted, str(temporary))
    outputs = [run_dir / name for name in (LAST, BEST, "batch.hdf5", "metrics.csv", "training.png")]
    return [path for path in outputs if path.exists()] + [run_dir / "model.pt"]


@click.command(name="aframe-train")
@node_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="train.yaml: model, optimizer, data, validation and trainer sections.")
@click.option("--waveforms", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Training polarizations (WaveformSet).")
@click.option("--validation", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Validation responses (ResponseSet).")
@click.option("--background", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="A training background file (repeat).")
@click.option("--ifos", required=True, help="Comma-separated ifos, e.g. H1,L1.")
@click.option("--sample-rate", type=float, required=True)
@click.option("--highpass", type=float, required=True)
@click.option("--lowpass", type=float, default=None)
@click.option("--fduration", type=float, required=True)
@click.option("--kernel-length", type=float, required=True)
@click.option("--inference-sampling-rate", type=float, required=True)
@click.option("--seed", type=int, required=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--checkpoint-minutes", type=float, default=30.0, show_default=True,
              help="Save last.ckpt at least this often.")
@click.option("--max-wallclock", type=float, default=None,
              help="Seconds; past this, save last.ckpt and exit 85 to be started again.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(config_path: Path, waveforms: Path, validation: Path, background: tuple[Path, ...], ifos: str,
         sample_rate: float, highpass: float, lowpass: float | None, fduration: float, kernel_length: float,
         inference_sampling_rate: float, seed: int, device: str, checkpoint_minutes: float,
         max_wallclock: float | None, run_dir: Path) -> list[Path]:
    if not background:
        raise InputError("--background", None, "no background files given")
    for name, value in (("--sample-rate", sample_rate), ("--kernel-length", kernel_length),
                        ("--fduration", fduration), ("--checkpoint-minutes", checkpoint_minutes)):
        if not (math.isfinite(value) and value > 0):
            raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)
    shared = Shared(_ifos(ifos), sample_rate, highpass, lowpass, fduration, kernel_length, inference_sampling_rate,
                    seed)
    return train(config_path=config_path, shared=shared, waveforms=waveforms, validation=validation,
                 background=list(background), device=device, checkpoint_minutes=checkpoint_minutes,
                 run_dir=run_dir, max_wallclock=max_wallclock)


