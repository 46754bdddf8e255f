"""`Classifier`: the one LightningModule. It wraps any `nn.Module` architecture given by `class_path`."""

import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from advconf.data.resumable import BatchChunk
from advconf.errors import AdvconfError
from advconf.functional import classification_loss, confidence, predictions
from advconf.models.shapes import check_input_shape
from advconf.optimizer_step import OptimizerStep

SETTINGS_KEY = "advconf_settings"


def _adam(params: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


class Classifier(LightningModule):
    """Cross-entropy (K logits) or sigmoid/BCE (one logit) classifier with accuracy and confidence metrics.

    Training logs ``train/loss``, ``train/acc`` and each loss term (``train/<name>``, ``train/total_loss``)
    as ``_epoch`` values (means over every example of the epoch, all DDP ranks) and ``_step`` values
    (the latest batch's, or chunk's, whenever Lightning writes step values to the loggers, see
    ``log_train``), and ``train/confidence`` per epoch. With ``log_every_n_epochs`` N > 1 the epoch
    values are logged at the end of every N-th epoch (and of the run's last), as means over every
    example since the previous log.

    Args:
        model: the architecture; outputs logits of shape (N, K), or (N, 1) for a binary model.
        optimizer: optimizer factory, e.g. ``{class_path: torch.optim.Adam, init_args: {lr: 1e-4}}``.
        lr_scheduler: optional scheduler factory, stepped once per epoch.
        num_classes: number of classes for the accuracy metric; inferred from the model's output when
            omitted (one logit counts as two classes).
        steps_per_chunk: optimizer steps per Lightning training batch. Above 1, a data module that
            holds its training split in memory (MNIST, CIFAR-10, spheres) serves chunks of that many
            batches, cut at multiples of ``steps_per_chunk`` in the run's step count, and the
            Classifier takes one optimizer step per batch (manual optimisation). Lightning's own
            per-batch work (loop bookkeeping, callback hooks, progress bar, logging, checkpoint
            checks) then runs once per chunk: for a model whose step takes well under a millisecond
            that is most of the time. ``global_step`` and the loggers' step still count optimizer
            steps, the data order is the same, and so are the weights. Step-based settings must be
            multiples of it (``log_every_n_steps``, checkpoint ``every_n_train_steps``); validate
            with ``check_val_every_n_epoch``. Single device only; not with gradient clipping or
            accumulation. Callbacks that must act on every optimizer step (``AdversarialTraining``
            attacks each batch with the current weights) implement ``on_train_step_start(trainer,
            module, batch)`` and ``on_train_step_end(trainer, module, outputs, batch)``, which the
            Classifier calls around each step of a chunk.
        log_every_n_epochs: log the training epoch values every N epochs, as means over those N
            epochs (the run's last epoch is always logged). Each log costs a few milliseconds
            (Lightning's ``self.log`` and a logger call): for a model whose epochs are a few dozen
            sub-millisecond steps (Table 1), logging every epoch costs more than the steps' own
            Python. Validation has the same knob in ``trainer.check_val_every_n_epoch``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerCallable = _adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_classes: int | None = None,
        steps_per_chunk: int = 1,
        log_every_n_epochs: int = 1,
    ) -> None:
        super().__init__()
        if steps_per_chunk < 1:
            raise AdvconfError(f"steps_per_chunk must be >= 1, got {steps_per_chunk}")
        if log_every_n_epochs < 1:
            raise AdvconfError(f"log_every_n_epochs must be >= 1, got {log_every_n_epochs}")
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.num_classes = num_classes
        self.steps_per_chunk = steps_per_chunk
        self.log_every_n_epochs = log_every_n_epochs
        # JSON-able description of how the model was built (e.g. quantisation), kept in checkpoints.
        self.settings: dict[str, Any] = {}
        self._loss_terms: dict[str, Callable[[], torch.Tensor]] = {}
        self.metrics = nn.ModuleDict()
        # log_train's values: sum of value x examples and example count per name since the epoch means
        # were last logged (``_epochs_summed`` epochs ago), the latest (value, examples) of the names
        # logged per step, and each name's (prog_bar, on_step).
        self._train_sums: dict[str, tuple[torch.Tensor, int]] = {}
        self._train_latest: dict[str, tuple[torch.Tensor, int]] = {}
        self._train_options: dict[str, tuple[bool, bool]] = {}
        self._epochs_summed = 0

    # --- extension points for callbacks (see docs/architecture.md) ---------------------------------

    def add_loss_term(self, name: str, fn: Callable[[], torch.Tensor]) -> None:
        """Add ``fn()`` to the training loss; it is logged as ``train/<name>``."""
        self._loss_terms[name] = fn

    def log_train(self, name: str, value: torch.Tensor, batch_size: int, prog_bar: bool = False, on_step: bool = True) -> None:
        """Log a training value, the mean over ``batch_size`` examples, at a tensor operation's cost.

        Lightning's ``self.log`` costs a fraction of a millisecond per call, more than a small model's
        step. Here the value is summed on the device (no synchronisation) into the epoch's mean,
        logged as ``<name>_epoch`` (``<name>`` when ``on_step`` is false) at the end of the epoch over
        all DDP ranks; with ``on_step`` the latest value is logged as ``<name>_step`` at the end of
        the training batches whose step values Lightning writes to the loggers (every
        ``log_every_n_steps`` steps) and at the run's last step.
        """
        value = value.detach().float()
        if name in self._train_sums:
            total, count = self._train_sums[name]
            self._train_sums[name] = (total.add(value, alpha=batch_size), count + batch_size)
        else:
            self._train_sums[name] = (value * batch_size, batch_size)
        if on_step:
            self._train_latest[name] = (value, batch_size)
        self._train_options[name] = (prog_bar, on_step)

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
        for split in ("val", "test"):
            if _metrics_key(split) not in self.metrics:  # ModuleDict keys must not shadow nn.Module.train
                self.metrics[_metrics_key(split)] = nn.ModuleDict(
                    {"acc": MulticlassAccuracy(self.num_classes, average="micro"), "confidence": MeanMetric()}
                )
        if stage == "fit":
            skip_nvml_check_without_gpus()
            if self.steps_per_chunk > 1:
                check_chunking(self.trainer, self.steps_per_chunk)
                self.automatic_optimization = False

    def _losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(loss to minimise, classification loss, logits, loss terms) of one training batch."""
        logits = self.model(x)  # what forward does, minus one module call
        loss = classification_loss(logits, y)
        terms = {name: fn() for name, fn in self._loss_terms.items()}
        total = loss
        for term in terms.values():
            total = total + term
        return total, loss, logits, terms

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        """The loss to minimise, and the batch's logits (detached) for callbacks' ``on_train_batch_end``
        (adversarial training reads them instead of hooking the model). With ``steps_per_chunk`` > 1
        the batch is a chunk: one optimizer step per batch in it, the chunk's logits returned."""
        if not self.automatic_optimization:
            return self._train_chunk(batch.batches() if isinstance(batch, BatchChunk) else [batch], batch_idx)
        x, y = batch[0], batch[1]
        total, loss, logits, terms = self._losses(x, y)
        self._log_training_values(total, loss, logits.detach(), y, terms)
        return {"loss": total, "logits": logits.detach()}

    def _train_chunk(self, batches: Iterable[Sequence[torch.Tensor]], batch_idx: int) -> dict[str, torch.Tensor]:
        """One optimizer step per batch. Lightning's per-step machinery (its optimizer wrapper and hook
        dispatch over every callback) costs more than a logistic regression's step, so the step is
        taken here: the callbacks that implement the backward and optimizer-step hooks get them, and
        Lightning's step counter (``global_step``) counts it. The optimizer is called through
        ``OptimizerStep`` (torch's profiler ranges only while a profiler runs). Logged step values are
        the chunk's means."""
        trainer, optimizer = self.trainer, self.optimizers().optimizer
        stepper = OptimizerStep(optimizer)
        hooks = {name: callbacks_with(trainer, name) for name in ("on_before_backward", "on_after_backward", "on_before_optimizer_step")}
        # advconf's per-step hooks (AdversarialTraining), which Lightning's Callback does not define:
        # Lightning's batch hooks see whole chunks
        hooks |= {name: [c for c in trainer.callbacks if hasattr(c, name)] for name in ("on_train_step_start", "on_train_step_end")}
        steps = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        # A chunk may reach past max_steps (-1: no limit).
        budget = trainer.max_steps - trainer.global_step if trainer.max_steps >= 0 else float("inf")
        totals, losses, logits, ys, terms = [], [], [], [], []
        for batch in batches:
            if len(ys) == budget:
                break
            for callback in hooks["on_train_step_start"]:
                callback.on_train_step_start(trainer, self, batch)
            x, y = batch[0], batch[1]
            total, loss, batch_logits, batch_terms = self._losses(x, y)
            stepper.zero_grad()
            for callback in hooks["on_before_backward"]:
                callback.on_before_backward(trainer, self, total)
            self.on_before_backward(total)
            total.backward()
            self.on_after_backward()
            for callback in hooks["on_after_backward"]:
                callback.on_after_backward(trainer, self)
            steps.increment_ready()
            for callback in hooks["on_before_optimizer_step"]:
                callback.on_before_optimizer_step(trainer, self, optimizer)
            self.on_before_optimizer_step(optimizer)
            stepper.step()
            steps.increment_completed()
            for callback in hooks["on_train_step_end"]:
                callback.on_train_step_end(trainer, self, {"loss": total.detach(), "logits": batch_logits.detach()}, batch)
            totals.append(total.detach())
            losses.append(loss.detach())
            logits.append(batch_logits.detach())
            ys.append(y)
            terms.append({name: term.detach() for name, term in batch_terms.items()})
        scheduler = self.lr_schedulers()
        if scheduler is not None and batch_idx + 1 == trainer.num_training_batches:
            scheduler.step()  # once per epoch, where Lightning steps it under automatic optimisation
        # Lightning counts one batch per chunk; its loggers' step and log_every_n_steps should count steps.
        trainer.fit_loop.epoch_loop._batches_that_stepped += len(ys) - 1
        sizes = torch.tensor([len(y) for y in ys], dtype=torch.float32, device=totals[0].device)
        weights = sizes / sizes.sum()

        def mean(values: list[torch.Tensor]) -> torch.Tensor:  # over the chunk's examples
            return torch.stack(values).float() @ weights

        chunk_logits, chunk_total = torch.cat(logits), mean(totals)
        self._log_training_values(chunk_total, mean(losses), chunk_logits, torch.cat(ys),
                                  {name: mean([t[name] for t in terms]) for name in self._loss_terms})
        return {"loss": chunk_total, "logits": chunk_logits}

    def _log_training_values(
        self, total: torch.Tensor, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, terms: dict[str, torch.Tensor]
    ) -> None:
        """``log_train`` of the losses, accuracy and confidence of one batch or chunk (``logits`` and ``y``
        of all its examples, losses as means over them)."""
        n = len(y)
        self.log_train("train/loss", loss, n, prog_bar=True)
        self.log_train("train/acc", (predictions(logits) == y).float().mean(), n, prog_bar=True)
        self.log_train("train/confidence", confidence(logits).mean(), n, on_step=False)
        for name, term in terms.items():
            self.log_train(f"train/{name}", term, n)
        if terms:
            self.log_train("train/total_loss", total, n)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """``log_train``'s step values, when Lightning writes step values (its ``log_every_n_steps`` rule)."""
        trainer = self.trainer
        every = trainer.log_every_n_steps
        done = trainer.global_step
        if (every > 0 and done % every == 0) or trainer.should_stop or done == trainer.max_steps:
            for name, (value, batch_size) in self._train_latest.items():
                self.log(f"{name}_step", value, prog_bar=self._train_options[name][0], on_step=True, on_epoch=False, batch_size=batch_size)
        self._train_latest = {}

    def on_train_start(self) -> None:
        self._train_sums, self._epochs_summed = {}, 0

    def on_train_epoch_end(self) -> None:
        """``log_train``'s means since the last log, over all DDP ranks (one collective for every value),
        every ``log_every_n_epochs`` epochs and at the end of the run."""
        self._epochs_summed += 1
        if not self._train_sums or (self._epochs_summed < self.log_every_n_epochs and not _last_epoch(self.trainer)):
            return
        names = list(self._train_sums)
        sums = [self._train_sums[name][0] for name in names]
        counts = [torch.tensor(float(self._train_sums[name][1]), device=sums[0].device) for name in names]
        totals = self.trainer.strategy.reduce(torch.stack(sums + counts), reduce_op="sum")
        for name, total, count in zip(names, totals, totals[len(names):]):
            prog_bar, on_step = self._train_options[name]
            self.log(f"{name}_epoch" if on_step else name, total / count, prog_bar=prog_bar, on_step=False, on_epoch=True)
        self._train_sums, self._epochs_summed = {}, 0

    def _evaluation_step(self, batch: Any, split: str) -> None:
        """One batch's loss, accuracy and confidence, logged as epoch values over all DDP ranks."""
        x, y = batch[0], batch[1]
        logits = self(x)
        metrics = self.metrics[_metrics_key(split)]
        metrics["acc"].update(predictions(logits), y)  # update, not forward: no per-batch value needed
        metrics["confidence"].update(confidence(logits).detach())
        # The loss is averaged over all DDP ranks; torchmetrics objects sync themselves.
        self.log(f"{split}/loss", classification_loss(logits, y), prog_bar=True, on_epoch=True, batch_size=len(x), sync_dist=True)
        self.log(f"{split}/acc", metrics["acc"], prog_bar=True, on_epoch=True, batch_size=len(x))
        self.log(f"{split}/confidence", metrics["confidence"], on_epoch=True, batch_size=len(x))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

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


def _last_epoch(trainer: Any) -> bool:
    """Whether the epoch that is ending is the fit's last (its step or epoch limit reached, or stopping)."""
    return (
        trainer.should_stop
        or 0 <= trainer.max_steps <= trainer.global_step
        or (trainer.max_epochs is not None and 0 <= trainer.max_epochs <= trainer.current_epoch + 1)
    )


def callbacks_with(trainer: Any, hook: str) -> list[Callback]:
    """The trainer's callbacks that implement ``hook``."""
    return [c for c in trainer.callbacks if is_overridden(hook, c, Callback)]


def check_chunking(trainer: Any, steps: int) -> None:
    """Refuse, before training starts, what ``steps_per_chunk`` > 1 cannot do (see ``Classifier``)."""
    problems = []
    if trainer.world_size > 1:
        problems.append(f"it needs a single device (DDP synchronises gradients once per Lightning batch), not {trainer.world_size}")
    if trainer.accumulate_grad_batches != 1:
        problems.append("it does not accumulate gradients (accumulate_grad_batches)")
    if trainer.gradient_clip_val:
        problems.append("it does not clip gradients (gradient_clip_val)")
    if trainer.precision == "16-mixed":
        problems.append("it does not scale the loss (precision 16-mixed; bf16-mixed works)")
    if trainer.log_every_n_steps % steps:
        problems.append(f"log_every_n_steps {trainer.log_every_n_steps} is not a multiple of it")
    for callback in trainer.checkpoint_callbacks:
        every = getattr(callback, "_every_n_train_steps", 0)
        if every % steps:
            problems.append(f"checkpoint every_n_train_steps {every} is not a multiple of it (saves happen at chunk ends)")
    if isinstance(trainer.val_check_interval, int):
        problems.append("val_check_interval counts Lightning batches (chunks): validate with check_val_every_n_epoch")
    if problems:
        raise AdvconfError(f"model steps_per_chunk {steps}: {'; '.join(problems)}; or set steps_per_chunk 1")


def skip_nvml_check_without_gpus() -> None:
    """Without CUDA devices, stop torch asking NVML whether CUDA is available at every optimizer step.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` so that checking for CUDA does not initialise
    it (which would break forked workers that use it). Adam and AdamW check at every ``step()``, and
    on a machine without NVIDIA's driver each check is a failed ``dlopen`` (about 0.1 ms: a fifth of
    a logistic regression's step). With no device visible there is nothing to protect.
    """
    if torch.cuda.device_count() == 0:
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


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
