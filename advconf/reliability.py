"""Keeping long runs safe: atomic checkpoint files and a checkpoint on preemption.

Use from YAML (``trainer.callbacks`` / ``trainer.plugins``) or as trainer defaults:

    plugins=[AtomicCheckpointIO()], callbacks=[PreemptionCheckpoint()]

(``advconf.callbacks.FiniteCheck`` stops on non-finite numbers; ``advconf.data.resumable`` has the
training order that a mid-epoch checkpoint resumes exactly.)
"""

import signal
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from advconf.atomic import atomic_open
from advconf.errors import AdvconfError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file in the same directory, fsync it, then rename it.

    A kill during the write leaves the previous file (e.g. ``last.ckpt``) intact and at most a
    stray ``.*.tmp`` file; the rename is atomic because both names are on the same file system.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        with atomic_open(path, "wb") as f:
            torch.save(checkpoint, f)


class PreemptionCheckpoint(Callback):
    """On SIGTERM or SIGUSR1, finish the current batch, save ``last.ckpt`` and exit cleanly (status 0).

    Lightning already turns SIGTERM into a clean stop after the current batch (``SIGTERMException``);
    this callback makes SIGUSR1 do the same outside SLURM (under SLURM with auto-requeue Lightning's
    own SIGUSR1 handler is left in place) and saves the checkpoint that the stop would otherwise lose.
    Resume with ``--ckpt_path last``. The file goes to the ``ModelCheckpoint`` directory, else to
    ``<default_root_dir>/ckpt``.
    """

    def __init__(self, filename: str = "last") -> None:
        if not filename or "/" in filename:
            raise AdvconfError(f"PreemptionCheckpoint filename must be a plain file name, got {filename!r}")
        self.filename = filename
        self._previous: Any = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Lightning registers its SIGTERM handler before this hook; an existing SIGUSR1 handler is
        # SLURM's requeue (or the user's) and is kept.
        if hasattr(signal, "SIGUSR1") and signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            self._previous = signal.signal(signal.SIGUSR1, signal.getsignal(signal.SIGTERM))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path(trainer))

    def path(self, trainer: Trainer) -> Path:
        callback = trainer.checkpoint_callback
        directory = callback.dirpath if isinstance(callback, ModelCheckpoint) and callback.dirpath else None
        directory = Path(directory or Path(trainer.default_root_dir) / "ckpt")
        return directory / f"{self.filename}{ModelCheckpoint.FILE_EXTENSION}"

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGUSR1, self._previous)
            self._previous = None
