"""Keeping long runs safe: atomic checkpoint files, a stop on non-finite numbers, a checkpoint on preemption.

Use from YAML (``trainer.callbacks`` / ``trainer.plugins``) or as trainer defaults:

    plugins=[AtomicCheckpointIO()], callbacks=[FiniteCheck(), PreemptionCheckpoint()]

and ``ResumableLoader`` in place of a shuffling ``DataLoader`` in a data module's ``train_dataloader``.
"""

import signal
from collections.abc import Iterator, Sized
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, Dataset, Sampler

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


class FiniteCheck(Callback):
    """Stop training with a clear error at the first non-finite loss or weight.

    The loss is checked before its backward pass, so the bad step never reaches the weights; weights
    are checked after each optimizer step. The error is raised before any ``ModelCheckpoint`` runs
    for that step (Lightning calls checkpoint callbacks last), so the last good checkpoint is kept.

    Args:
        check_weights: also check every parameter after each training batch (one pass over the weights).
    """

    def __init__(self, check_weights: bool = True) -> None:
        self.check_weights = check_weights

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise AdvconfError(
                f"non-finite loss ({loss.detach().float().cpu().tolist()}) at step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}); training stopped, checkpoints are from earlier steps"
            )

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.check_weights:
            return
        for name, param in pl_module.named_parameters():
            if not torch.isfinite(param).all():
                raise AdvconfError(
                    f"non-finite weights in {name} after step {trainer.global_step} "
                    f"(epoch {trainer.current_epoch}); training stopped, checkpoints are from earlier steps"
                )


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


class EpochShuffle(Sampler[int]):
    """A permutation that depends only on (seed, epoch), starting ``start`` positions in (for resuming).

    Lightning calls ``set_epoch`` before every epoch, with the epoch restored from the checkpoint.
    """

    def __init__(self, data: Sized, seed: int) -> None:
        self.data = data
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.data), generator=generator)[self.start :].tolist()
        self.start = 0
        return iter(order)

    def __len__(self) -> int:
        return len(self.data)


class ResumableLoader(DataLoader):
    """A shuffling ``DataLoader`` that a checkpoint taken mid-epoch resumes exactly.

    A plain ``DataLoader(shuffle=True)`` draws its order from the global RNG when an epoch starts, and
    Lightning restarts it from its first batch after a mid-epoch resume, so a resumed run sees other
    batches than an uninterrupted one. Here the order is a function of (seed, epoch), and Lightning
    stores ``state_dict()`` (the batches already served) in checkpoints and hands it back on resume.

    Under DDP, Lightning re-creates the loader with its own distributed ``sampler`` (passed here):
    its order is still a function of (seed, epoch), but a mid-epoch resume restarts that epoch.
    """

    def __init__(
        self, dataset: Dataset, batch_size: int, seed: int, drop_last: bool = False, sampler: Any = None, **kwargs: Any
    ) -> None:
        sampler = EpochShuffle(dataset, seed) if sampler is None else sampler
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **kwargs)
        self.seed = seed  # Lightning reads constructor arguments back from attributes when it re-creates us
        self._served = 0

    def _shuffle(self) -> EpochShuffle | None:
        return self.sampler if isinstance(self.sampler, EpochShuffle) else None

    def __iter__(self) -> Iterator[Any]:
        shuffle = self._shuffle()
        self._served = shuffle.start // self.batch_size if shuffle else 0
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        shuffle = self._shuffle()
        return {"epoch": shuffle.epoch, "batches": self._served} if shuffle else {}

    def load_state_dict(self, state: dict[str, int]) -> None:
        shuffle = self._shuffle()
        if shuffle and state:
            shuffle.epoch = state["epoch"]
            shuffle.start = state["batches"] * self.batch_size
