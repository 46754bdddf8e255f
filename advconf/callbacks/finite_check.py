"""`FiniteCheck`: stop a run at the first non-finite loss or weight, before that step is checkpointed."""

import math
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.errors import AdvconfError


class FiniteCheck(Callback):
    """Stop training with a clear error at the first non-finite loss or weight.

    The loss is checked before its backward pass, so the bad step never reaches the weights; weights
    are checked after each training batch (each chunk, with the Classifier's ``steps_per_chunk``; a
    bad update inside a chunk makes the next step's loss non-finite). The error is raised before any
    ``ModelCheckpoint`` runs for that batch (Lightning calls checkpoint callbacks last), so the last
    good checkpoint is kept.

    Args:
        check_weights: also check the parameters after each training batch (a sum per parameter and
            one device synchronisation; an element-wise pass only when a sum is not finite).
    """

    def __init__(self, check_weights: bool = True) -> None:
        self.check_weights = check_weights

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        # A scalar loss (the usual case) is checked without tensor ops: this runs at every step.
        finite = math.isfinite(loss.item()) if loss.numel() == 1 else bool(torch.isfinite(loss).all())
        if not finite:
            raise AdvconfError(
                f"non-finite loss ({loss.detach().float().cpu().tolist()}) at step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}); training stopped, checkpoints are from earlier steps"
            )

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.check_weights:
            return
        # A sum is non-finite when any of its terms is (NaN and inf propagate), and one pass of sums
        # costs a tenth of an element-wise check; a sum that overflowed is confirmed below.
        with torch.no_grad():
            sums = [p.sum().float() for p in pl_module.parameters()]
            if not sums or torch.isfinite(torch.stack(sums)).all():
                return
        for name, param in pl_module.named_parameters():
            if not torch.isfinite(param).all():
                raise AdvconfError(
                    f"non-finite weights in {name} after step {trainer.global_step} "
                    f"(epoch {trainer.current_epoch}); training stopped, checkpoints are from earlier steps"
                )
