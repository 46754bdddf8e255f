"""`Classifier`: the one LightningModule. It wraps any `nn.Module` architecture given by `class_path`."""

import json
from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from advconf.errors import AdvconfError
from advconf.functional import classification_loss, confidence, predictions
from advconf.models.shapes import check_input_shape

SETTINGS_KEY = "advconf_settings"


def _adam(params: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


class Classifier(LightningModule):
    """Cross-entropy (K logits) or sigmoid/BCE (one logit) classifier with accuracy and confidence metrics.

    Args:
        model: the architecture; outputs logits of shape (N, K), or (N, 1) for a binary model.
        optimizer: optimizer factory, e.g. ``{class_path: torch.optim.Adam, init_args: {lr: 1e-4}}``.
        lr_scheduler: optional scheduler factory, stepped once per epoch.
        num_classes: number of classes for the accuracy metric; inferred from the model's output when
            omitted (one logit counts as two classes).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerCallable = _adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.num_classes = num_classes
        # JSON-able description of how the model was built (e.g. quantisation), kept in checkpoints.
        self.settings: dict[str, Any] = {}
        self._loss_terms: dict[str, Callable[[], torch.Tensor]] = {}
        self.metrics = nn.ModuleDict()

    # --- extension points for callbacks (see docs/architecture.md) ---------------------------------

    def add_loss_term(self, name: str, fn: Callable[[], torch.Tensor]) -> None:
        """Add ``fn()`` to the training loss; it is logged as ``train/<name>``."""
        self._loss_terms[name] = fn

    # --- Lightning hooks ----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self._trainer else None
        check_input_shape(self.model, datamodule)
        if stage == "fit" and getattr(datamodule, "batch_size", 2) < 2 and has_batch_norm(self.model):
            raise AdvconfError("batch norm cannot train on batches of one example: set data batch_size >= 2")
        if self.num_classes is None:
            self.num_classes = getattr(datamodule, "num_classes", None)
        if self.num_classes is None:
            raise AdvconfError("Classifier needs num_classes (set model.num_classes or use a data module that has it)")
        for split in ("train", "val", "test"):
            if _metrics_key(split) not in self.metrics:  # ModuleDict keys must not shadow nn.Module.train
                self.metrics[_metrics_key(split)] = nn.ModuleDict(
                    {"acc": MulticlassAccuracy(self.num_classes, average="micro"), "confidence": MeanMetric()}
                )

    def _shared_step(self, batch: Any, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of one batch, with the split's metrics logged."""
        x, y = batch[0], batch[1]
        logits = self(x)
        loss = classification_loss(logits, y)
        metrics = self.metrics[_metrics_key(split)]
        metrics["acc"](predictions(logits), y)
        metrics["confidence"](confidence(logits).detach())
        on_step = split == "train"
        # Val/test losses are averaged over all DDP ranks; torchmetrics objects sync themselves.
        self.log(f"{split}/loss", loss, prog_bar=True, on_step=on_step, on_epoch=True, batch_size=len(x),
                 sync_dist=not on_step)
        self.log(f"{split}/acc", metrics["acc"], prog_bar=True, on_step=on_step, on_epoch=True, batch_size=len(x))
        self.log(f"{split}/confidence", metrics["confidence"], on_step=False, on_epoch=True, batch_size=len(x))
        return loss, logits

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        """The loss to minimise, and the batch's logits (detached) for callbacks' ``on_train_batch_end``
        (adversarial training reads them instead of hooking the model)."""
        loss, logits = self._shared_step(batch, "train")
        for name, fn in self._loss_terms.items():
            term = fn()
            self.log(f"train/{name}", term, on_step=True, on_epoch=True)
            loss = loss + term
        if self._loss_terms:
            self.log("train/total_loss", loss, on_step=True, on_epoch=True)
        return {"loss": loss, "logits": logits.detach()}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self(x)

    def configure_optimizers(self) -> Any:
        try:
            optimizer = self.optimizer_factory(self.parameters())
        except ValueError as error:  # torch validates its own arguments (e.g. "Invalid learning rate")
            raise AdvconfError(f"optimizer: {error}") from None
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    # --- checkpoints record how the model was built ------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[SETTINGS_KEY] = json.loads(json.dumps(self.settings))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(SETTINGS_KEY, {})
        current = json.loads(json.dumps(self.settings))
        if saved != current:
            raise AdvconfError(f"checkpoint does not match the config: {describe_difference(saved, current)}")


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _metrics_key(split: str) -> str:
    return f"{split}_metrics"


def describe_difference(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """One line naming each setting that differs between a checkpoint and the current config."""
    parts = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            parts.append(f"{key}: checkpoint has {saved.get(key)!r}, config has {current.get(key)!r}")
    return "; ".join(parts)
