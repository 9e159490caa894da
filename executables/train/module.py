"""The LightningModule and DataModule of ``aframe-train``."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from executables.train.config import Shared
from executables.train.data import (
    BatchStream,
    Geometry,
    Injector,
    ValidationSet,
    WaveformBank,
    build_validation,
    load_background,
    partial_auroc,
    pool_background,
    read_responses,
)
from executables.train.model import build_model

log = logging.getLogger(__name__)


class AframeModule(pl.LightningModule):
    """ResNet1D classifier: BCE-with-logits on injected batches, AdamW + OneCycle, partial-AUROC validation."""

    def __init__(self, config: dict[str, Any], shared: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.shared = Shared(**{**shared, "ifos": tuple(shared["ifos"])})
        self.model = build_model(config["model"], len(self.shared.ifos))
        data = config["data"]
        self.injector = Injector(self.shared, float(data["psd_length"]), data["fftlength"])
        self.loss = torch.nn.BCEWithLogitsLoss()
        self._scores: list[torch.Tensor] = []

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.model(X)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, dict):  # a training batch: inject, augment and whiten on the device
            return self.injector(batch)
        return batch

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        X, y = batch
        loss = self.loss(self(X), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        (X,) = batch
        self._scores.append(self(X)[:, 0].detach().float().cpu())

    def on_validation_epoch_end(self) -> None:
        scores = torch.cat(self._scores) if self._scores else torch.empty(0)
        self._scores.clear()
        valid: ValidationSet | None = getattr(self.trainer.datamodule, "validation", None)
        if valid is None or len(scores) != len(valid.background) + len(valid.signals):
            return  # sanity check or a partial run: no metric
        background = pool_background(scores[: len(valid.background)], valid.shift_sizes, valid.pool_size)
        signal = scores[len(valid.background):].reshape(-1, valid.num_views).max(dim=1).values
        max_fpr = min(1.0, max(float(self.config["validation"]["max_fpr"]), 10.0 / len(background)))
        auroc = partial_auroc(background, signal, max_fpr)
        self.log("valid_auroc", auroc, prog_bar=True)
        log.info("epoch %d: valid_auroc %.4f (max_fpr %.3g over %d pooled background windows, %d signals)",
                 self.current_epoch, auroc, max_fpr, len(background), len(signal))

    def configure_optimizers(self) -> Any:
        opt = self.config["optimizer"]
        lr = float(opt["learning_rate"]) * self.trainer.world_size
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=float(opt["weight_decay"]))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=int(self.trainer.estimated_stepping_batches),
            pct_start=float(opt["pct_lr_ramp"]))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class AframeData(pl.LightningDataModule):
    """Background in memory, training batches from ``BatchStream``, a fixed whitened validation set."""

    def __init__(self, config: dict[str, Any], shared: Shared, background: list[Path], waveforms: Path,
                 validation: Path) -> None:
        super().__init__()
        self.config = config
        self.shared = shared
        data = config["data"]
        self.geometry = Geometry.of(shared, float(data["psd_length"]))
        self.train_segments, self.valid_segments = load_background(
            background, shared, float(config["validation"]["fraction"]), self.geometry)
        self.bank = WaveformBank(waveforms, shared, float(data["max_waveform_memory_gb"]))
        self.responses, self.coalescence = read_responses(validation, shared)
        self.validation: ValidationSet | None = None

    def setup(self, stage: str) -> None:
        if self.validation is None:
            data = self.config["data"]
            injector = Injector(self.shared, float(data["psd_length"]), data["fftlength"])
            self.validation = build_validation(self.valid_segments, self.responses, self.coalescence, injector,
                                               self.config["validation"], self.shared.seed)
            log.info("validation: %d background windows over %d shifts, %d signal windows",
                     len(self.validation.background), len(self.validation.shift_sizes),
                     len(self.validation.signals))

    def _position(self) -> tuple[int, int]:
        loop = self.trainer.fit_loop
        return loop.epoch_progress.current.processed, loop.epoch_loop.batch_progress.current.ready

    def stream(self) -> BatchStream:
        trainer = self.trainer
        return BatchStream(self.train_segments, self.bank, self.config["data"], self.geometry, self.shared.seed,
                           self._position, trainer.global_rank if trainer else 0, trainer.world_size if trainer else 1)

    def train_dataloader(self) -> BatchStream:
        return self.stream()

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        assert self.validation is not None
        dataset = torch.utils.data.TensorDataset(self.validation.inputs)
        return torch.utils.data.DataLoader(dataset, batch_size=int(self.config["validation"]["batch_size"]))


def shared_dict(shared: Shared) -> dict[str, Any]:
    values = asdict(shared)
    values["ifos"] = list(shared.ifos)
    return values
