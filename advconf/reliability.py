"""Keeping long runs safe: atomic checkpoint files and a checkpoint on preemption.

Use from YAML (``trainer.callbacks`` / ``trainer.plugins``) or as trainer defaults:

    plugins=[AtomicCheckpointIO()], callbacks=[PreemptionCheckpoint()]

(``advconf.callbacks.FiniteCheck`` stops on non-finite numbers; ``advconf.data.resumable`` has the
training order that a mid-epoch checkpoint resumes exactly.)
"""

import signal
import threading
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from advconf.atomic import atomic_open


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


class Preempted(SIGTERMException):
    """Fit stopped by SIGTERM/SIGUSR1 after saving ``path`` at ``step``; the exit status is 128 + the signal number."""

    def __init__(self, signum: int, step: int, path: Path) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name
        self.step = step
        self.path = path

    def __str__(self) -> str:
        return f"fit stopped by {self.signal_name} after step {self.step}; saved {self.path} (resume with --ckpt_path last)"


class PreemptionCheckpoint(Callback):
    """On SIGTERM or SIGUSR1 during ``fit``: finish the current training batch, save the last checkpoint, stop.

    Lightning's own SIGTERM handling stops at moments whose checkpoint it cannot resume correctly (on an
    epoch's last batch, in the middle of validation: the resumed run skips an epoch), and it stops every
    stage, so a checkpoint saved on that stop could replace a training run's ``last.ckpt`` from a test
    job. So while the trainer fits, this callback takes the signals over and acts only at the end of a
    training batch, the moment at which ``ModelCheckpoint(every_n_train_steps=...)`` saves and which
    Lightning resumes exactly, except an epoch's last batch (see ``on_train_batch_end``): a signal
    there waits for the end of the next epoch's first batch. A validation or checkpoint write in progress
    completes first; a signal that arrives during the last epoch's last batch or later lets the fit
    finish. Under DDP the ranks agree on the step (any rank's signal counts), save together and stop
    together. Outside ``fit`` it does nothing.

    The file is the ``ModelCheckpoint``'s last file (``<dirpath>/last.ckpt``), else
    ``<default_root_dir>/ckpt/last.ckpt``; ``fit --ckpt_path last`` resumes from it and ends with the
    weights of an uninterrupted run. The stop raises :class:`Preempted` (Lightning's
    ``SIGTERMException``) with exit status 128 + the signal number (143 for SIGTERM). Under SLURM with
    auto-requeue, the requeue signal (SIGUSR1) also runs Lightning's handler at that moment: it saves
    ``hpc_ckpt_N.ckpt``, from which the requeued job resumes, and requeues the job; SIGTERM (SLURM's
    preemption, which may requeue the job itself, or scancel) saves ``hpc_ckpt_N.ckpt`` too.
    """

    SIGNALS = ("SIGTERM", "SIGUSR1")

    def __init__(self) -> None:
        self._received: int | None = None
        self._replaced: dict[int, Any] = {}
        self._requeue_signal: int | None = None

    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_over_signals(trainer)  # Lightning registers its handlers just before this hook

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_over_signals(trainer)
        if trainer.ckpt_path:
            self._keep_last_file_name(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        signum = self._received or (signal.SIGTERM if trainer.received_sigterm else 0)
        if trainer.world_size > 1:  # every rank must stop at the same step
            signum = int(trainer.strategy.reduce(torch.tensor(signum, device=pl_module.device), reduce_op="max"))
        if not signum or trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            # Not on an epoch's last batch: a run resumed from a checkpoint taken there trains correctly
            # but counts one epoch too few, and resuming it again mid-epoch repeats part of the epoch.
            return
        path = self.path(trainer)
        checkpoint = self._last_file_callback(trainer)
        if checkpoint is not None:
            checkpoint.last_model_path = str(path)  # recorded in the checkpoint: the resumed run keeps this name
        if signum == self._requeue_signal and signum in self._replaced:
            # SLURM auto-requeue: Lightning's handler (HPC checkpoint, then `scontrol requeue`), run at this
            # consistent moment instead of whenever the signal arrives (mid-step, mid-validation...).
            self._replaced[signum](signum, None)
        elif self._requeue_signal is not None:
            # Preempted by SLURM (SIGTERM): the job may be requeued by SLURM itself, and a requeued job
            # resumes from the newest HPC checkpoint of its run directory (Lightning's SLURM resume).
            trainer.save_checkpoint(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
        trainer.save_checkpoint(path)
        self._restore_signals()
        raise Preempted(signum, trainer.global_step, path)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore_signals()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_signals()

    def path(self, trainer: Trainer) -> Path:
        checkpoint = self._last_file_callback(trainer)
        if checkpoint is not None:
            return Path(checkpoint.format_checkpoint_name({}, checkpoint.CHECKPOINT_NAME_LAST))
        callback = trainer.checkpoint_callback
        directory = callback.dirpath if isinstance(callback, ModelCheckpoint) and callback.dirpath else None
        return Path(directory or Path(trainer.default_root_dir) / "ckpt") / f"last{ModelCheckpoint.FILE_EXTENSION}"

    @staticmethod
    def _last_file_callback(trainer: Trainer) -> ModelCheckpoint | None:
        """The ModelCheckpoint that keeps a plain ``last.ckpt`` (no ``{epoch}``-style name), if any."""
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath and "{" not in callback.CHECKPOINT_NAME_LAST:
                return callback
        return None

    def _keep_last_file_name(self, trainer: Trainer) -> None:
        """A resumed run updates the existing ``last.ckpt`` instead of starting ``last-v1.ckpt``.

        ModelCheckpoint versions its last file when one exists that it did not write itself, which is
        the case after a resume when the checkpoint did not record the name (a save before the first
        ``last.ckpt``, a moved run directory). Resuming means that file is this run's.
        """
        checkpoint = self._last_file_callback(trainer)
        if checkpoint is not None and Path(self.path(trainer)).is_file():
            checkpoint.last_model_path = str(self.path(trainer))

    def _take_over_signals(self, trainer: Trainer) -> None:
        if self._replaced or threading.current_thread() is not threading.main_thread():
            return
        environment = trainer._accelerator_connector.cluster_environment  # what Lightning's signal set-up reads
        requeue = isinstance(environment, SLURMEnvironment) and environment.auto_requeue
        self._requeue_signal = environment.requeue_signal if requeue else None
        for name in self.SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            current = signal.getsignal(signum)
            if signum == signal.SIGUSR1 and current not in (signal.SIG_DFL, None) and signum != self._requeue_signal:
                continue  # the user's own handler
            self._replaced[signum] = current
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._received = signum

    def _restore_signals(self) -> None:
        for signum, handler in self._replaced.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)
        self._replaced = {}
        self._received = None
