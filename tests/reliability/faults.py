"""Test-only callbacks that inject faults at a chosen training step (used by class_path from YAML)."""

import os
import signal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.data import SpheresDataModule
from advconf.reliability import ResumableLoader


class SignalAt(Callback):
    """Send ``signal_name`` to this process once ``global_step`` reaches ``step`` (SIGKILL = a crash)."""

    def __init__(self, step: int, signal_name: str = "SIGKILL") -> None:
        self.step = step
        self.signal_name = signal_name

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), getattr(signal, self.signal_name))


class NaNInputsAt(Callback):
    """Fill the training batch of step ``step`` with NaN, so its loss is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            batch[0].fill_(float("nan"))


class PoisonWeightsAt(Callback):
    """Make the first parameter infinite after optimizer step ``step`` (a diverged update).

    List it before ``FiniteCheck``: callbacks run in list order within a hook.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("inf"))


class ResumableSpheres(SpheresDataModule):
    """The spheres data with ``ResumableLoader`` for training (what data modules are asked to adopt)."""

    def train_dataloader(self) -> ResumableLoader:
        return ResumableLoader(self.datasets["train"], batch_size=self.batch_size, seed=self.seed, drop_last=True)
