"""Madry et al.'s min-max adversarial training as a callback: attack part of each training batch."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from advconf.errors import AdvconfError
from advconf.functional import classification_loss, predictions
from advconf.quant import attack_gradients


@contextmanager
def batch_norm_in_eval(model: nn.Module) -> Iterator[None]:
    """Batch norm layers use (and do not update) their running statistics inside the block."""
    switched = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()


class AdversarialTraining(Callback):
    """Replace the first `fraction` of every training batch by adversarial examples (inner
    maximisation); the Classifier's ordinary training step then minimises the loss on that batch.

    With PGD this is Madry et al.'s training; with FGSM it is Kurakin et al.'s (paper Table 1, 4(f)
    and 4(l)). Attacks are generated on the architecture itself (`pl_module.model`, not a DDP wrapper,
    so no gradient synchronisation happens), with 32-bit gradients when the model is quantised, and by
    default with batch norm in eval mode so attack forwards do not move its running statistics.

    Logs `train/adv_loss` and `train/adv_acc` (from the training forward itself), `train/clean_acc`
    (from the clean part of the batch, or one extra no-grad forward when the whole batch is attacked)
    and `train/adv_step_time` (seconds spent generating the attack per batch).

    Args:
        attack: the attack object (`class_path` of e.g. `advconf.attacks.PGD`, `advconf.attacks.FGSM`).
            For PGD set `seed: null`, or every batch gets the same random start.
        eps: budget in input units (pixel units for images).
        fraction: share of each batch replaced by adversarial examples (Madry: 1.0; Kurakin: 0.5).
        bn_eval_during_attack: batch norm in eval mode while generating attacks.
    """

    def __init__(
        self,
        attack: Callable,
        eps: float = 0.3,
        fraction: float = 1.0,
        bn_eval_during_attack: bool = True,
    ) -> None:
        if not 0 < fraction <= 1:
            raise AdvconfError(f"AdversarialTraining fraction must be in (0, 1], got {fraction}")
        if eps < 0:
            raise AdvconfError(f"AdversarialTraining eps must be non-negative, got {eps}")
        self.attack = attack
        self.eps = eps
        self.fraction = fraction
        self.bn_eval_during_attack = bn_eval_during_attack
        self._pending: dict[str, Any] = {}
        self._hook: Any = None

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        n = max(1, round(self.fraction * len(x)))
        model = getattr(pl_module, "model", pl_module)
        box = getattr(trainer.datamodule, "input_box", (0.0, 1.0)) if trainer.datamodule is not None else (0.0, 1.0)
        start = time.perf_counter()
        with batch_norm_in_eval(model) if self.bn_eval_during_attack else nullcontext(), attack_gradients(model):
            clean_logits = None
            if n == len(x):  # no clean examples left in the batch to measure clean accuracy on
                with torch.no_grad():
                    clean_logits = model(x)
            x_adv = self.attack(model, x[:n], y[:n], self.eps, box)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)  # the time of the attack, not of queuing it
        elapsed = time.perf_counter() - start
        # A callback cannot hand Lightning a new batch: overwrite the inputs in place.
        with torch.no_grad():
            x[:n] = x_adv.detach()
        pl_module.log("train/adv_step_time", elapsed, on_step=True, on_epoch=True, batch_size=len(x))
        self._pending = {"n": n, "y": y, "clean_logits": clean_logits, "logits": None}
        self._hook = model.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if self._pending.get("logits") is None:  # the training step's forward, not later ones
            self._pending["logits"] = output.detach()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._hook is None:
            return
        self._hook.remove()
        self._hook = None
        n, y, logits = self._pending["n"], self._pending["y"], self._pending["logits"]
        if logits is None:
            return
        clean_logits = self._pending["clean_logits"]
        clean_logits, clean_y = (clean_logits, y) if clean_logits is not None else (logits[n:], y[n:])
        log = dict(on_step=True, on_epoch=True, sync_dist=True)  # epoch means over all ranks
        pl_module.log("train/adv_loss", classification_loss(logits[:n], y[:n]), batch_size=n, **log)
        pl_module.log("train/adv_acc", (predictions(logits[:n]) == y[:n]).float().mean(), batch_size=n, **log)
        pl_module.log("train/clean_acc", (predictions(clean_logits) == clean_y).float().mean(), batch_size=len(clean_y), **log)
        self._pending = {}
