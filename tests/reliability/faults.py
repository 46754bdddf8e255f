"""Test-only callbacks that inject faults at a chosen training step (used by class_path from YAML)."""

import os
import signal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class SignalAt(Callback):
    """Send ``signal_name`` to this process once, at ``global_step == step`` (SIGKILL = a crash).

    ``moment``: ``train_batch_end`` (after that step's optimizer step), ``train_batch_start`` (before
    the next one), ``validation`` (after a validation batch, in fit or in ``validate``; not the sanity
    check), ``sanity_check`` (its start), ``test`` or ``predict`` (after a batch of that stage).
    Under DDP only global rank ``rank`` sends it.
    """

    MOMENTS = ("train_batch_end", "train_batch_start", "validation", "sanity_check", "test", "predict")

    def __init__(self, step: int, signal_name: str = "SIGKILL", moment: str = "train_batch_end", rank: int = 0) -> None:
        if moment not in self.MOMENTS:
            raise ValueError(f"moment must be one of {self.MOMENTS}, got {moment!r}")
        self.step = step
        self.signal_name = signal_name
        self.moment = moment
        self.rank = rank
        self.sent = False

    def _at(self, moment: str, trainer: Trainer) -> None:
        if moment == self.moment and not self.sent and trainer.global_step == self.step and trainer.global_rank == self.rank:
            self.sent = True
            os.kill(os.getpid(), getattr(signal, self.signal_name))

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        self._at("train_batch_end", trainer)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self._at("train_batch_start", trainer)

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        if not trainer.sanity_checking:
            self._at("validation", trainer)

    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._at("sanity_check", trainer)

    def on_test_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self._at("test", trainer)

    def on_predict_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self._at("predict", trainer)


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


class FillDiskAt(Callback):
    """Fill the file system of ``path`` (a file of all its free space) after training step ``step``."""

    def __init__(self, step: int, path: str) -> None:
        self.step = step
        self.path = path

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            fill_disk(self.path)


def fill_disk(path) -> None:
    """Write zeros to ``path`` until the file system has no space left."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass
