"""Madry et al.'s min-max adversarial training as a callback: attack part of each training batch."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from advconf.budgets import Budget, parse_budget
from advconf.errors import AdvconfError
from advconf.functional import classification_loss, predictions
from advconf.quant import attack_gradients

BatchNormMode = Literal["train", "eval"]


@contextmanager
def batch_norm_for_attack(model: nn.Module, mode: BatchNormMode) -> Iterator[None]:
    """Inside the block batch norm normalises with the batch's statistics (`train`, as the training
    step does) or with its running statistics (`eval`); either way the running statistics (and the
    batch counter) are exactly what they were before the block when it ends."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(buffer, buffer.clone()) for m in layers for buffer in m.buffers(recurse=False)]
    switched = [m for m in layers if m.training] if mode == "eval" else []
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def batch_generator(trainer: Trainer, pl_module: LightningModule) -> torch.Generator:
    """The random source of one training batch's attack: a CPU generator seeded from the run's seed
    (`torch.initial_seed()`, which `seed_everything` sets), the index of the batch over the whole fit
    and the global rank. Fresh on every batch and rank (also within a gradient-accumulation window),
    the same in every run with that seed, and continued where it left off when `--ckpt_path` resumes
    a run (Lightning restores the batch count; the global step alone repeats under accumulation).
    When the Classifier takes its steps in chunks (no accumulation there) a Lightning batch is a
    chunk, so the batch's index is the global step, which is what it is without chunks too."""
    index = trainer.fit_loop.epoch_loop.total_batch_idx if pl_module.automatic_optimization else trainer.global_step
    entropy = [torch.initial_seed(), index, trainer.global_rank]
    seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(seed)


class AdversarialTraining(Callback):
    """Replace the first `fraction` of every training batch by adversarial examples (inner
    maximisation); the Classifier's ordinary training step then minimises the loss on that batch.

    With PGD this is Madry et al.'s training; with FGSM it is Kurakin et al.'s (paper Table 1, 4(f)
    and 4(l)). Attacks are generated on the architecture itself (`pl_module.model`, not a DDP wrapper,
    so no gradient synchronisation happens), with 32-bit gradients when the model is quantised. Their
    random draws (PGD's random start) come from `batch_generator`: a new start on every batch,
    reproducible from the run's seed; the attack's own `seed` only serves evaluation.

    Logs `train/adv_loss` and `train/adv_acc` (from the training step's logits), `train/clean_acc`
    (from the clean part of the batch, or one extra no-grad forward when the whole batch is attacked)
    and `train/adv_step_time` (seconds spent generating the attack per batch), computed once per
    Lightning batch (a chunk's steps together; epoch means as if computed per step).

    Args:
        attack: the attack object (`class_path` of e.g. `advconf.attacks.PGD`, `advconf.attacks.FGSM`).
        eps: budget in input units (pixel units for images): a number or a fraction such as ``8/255``.
        fraction: share of each batch replaced by adversarial examples (Madry: 1.0; Kurakin: 0.5).
        batch_norm: how batch norm normalises while the attack is generated. `train` (default): with
            the statistics of the batch being attacked, i.e. the function the training step
            minimises, as in Madry et al.'s reference code (`cifar10_challenge`, whose model is built
            in train mode for the attack too). `eval`: with the running statistics. In both modes
            the running statistics are left exactly as they were (Madry's code lets every attack
            step update them; here only the training step does).
    """

    def __init__(
        self,
        attack: Callable,
        eps: Budget = 0.3,
        fraction: float = 1.0,
        batch_norm: BatchNormMode = "train",
    ) -> None:
        if not 0 < fraction <= 1:
            raise AdvconfError(f"AdversarialTraining fraction must be in (0, 1], got {fraction}")
        eps = parse_budget(eps, "AdversarialTraining eps")
        if eps < 0:
            raise AdvconfError(f"AdversarialTraining eps must be non-negative, got {eps}")
        if batch_norm not in ("train", "eval"):
            raise AdvconfError(f"AdversarialTraining batch_norm must be 'train' or 'eval', got {batch_norm!r}")
        self.attack = attack
        self.eps = eps
        self.fraction = fraction
        self.batch_norm = batch_norm
        self._clean_logits: torch.Tensor | None = None
        # What the metrics need from each step since they were last logged: (adversarial logits and
        # labels, clean logits and labels), and the attack's seconds x examples and examples.
        self._pending: list[tuple[torch.Tensor, ...]] = []
        self._attack_time = (0.0, 0)
        self._box: tuple[float, float] | None = (0.0, 1.0)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Looked up once: on a small model the per-step lookups are a measurable part of the step.
        self._box = getattr(trainer.datamodule, "input_box", (0.0, 1.0)) if trainer.datamodule is not None else (0.0, 1.0)

    def attacked_count(self, batch_size: int) -> int:
        return max(1, round(self.fraction * batch_size))

    # Lightning's hooks run once per Lightning batch; when the Classifier takes several optimizer steps
    # per Lightning batch (`steps_per_chunk`), it calls the step hooks below for each step itself.

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if pl_module.automatic_optimization:
            self.on_train_step_start(trainer, pl_module, batch)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if pl_module.automatic_optimization:
            self.on_train_step_end(trainer, pl_module, outputs, batch)
        else:
            self._log_metrics(pl_module)  # the chunk's steps

    def on_train_step_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any) -> None:
        """Before the optimizer step on ``batch``: its first examples become adversarial, in place."""
        x, y = batch[0], batch[1]
        n = self.attacked_count(len(x))
        model = getattr(pl_module, "model", pl_module)
        # An attack that draws no random number (FGSM) needs no generator: seeding one costs more than
        # a logistic regression's step.
        generator = batch_generator(trainer, pl_module) if getattr(self.attack, "draws_random_numbers", True) else None
        start = time.perf_counter()
        with batch_norm_for_attack(model, self.batch_norm), attack_gradients(model):
            self._clean_logits = None
            if n == len(x):  # no clean examples left in the batch to measure clean accuracy on
                with torch.no_grad():
                    self._clean_logits = model(x)
            x_adv = self.attack(model, x[:n], y[:n], self.eps, self._box, generator=generator)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)  # the time of the attack, not of queuing it
        elapsed = time.perf_counter() - start
        # A callback cannot hand Lightning a new batch: overwrite the inputs in place.
        with torch.no_grad():
            x[:n] = x_adv.detach()
        seconds, examples = self._attack_time
        self._attack_time = (seconds + elapsed * len(x), examples + len(x))

    def on_train_step_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any) -> None:
        """After the optimizer step on ``batch``: log from the step's own logits."""
        if outputs is None:  # the training step skipped this batch
            return
        logits = outputs.get("logits") if isinstance(outputs, dict) else None
        if logits is None:
            raise AdvconfError(
                "AdversarialTraining needs the training step to return {'loss': ..., 'logits': ...} (advconf's Classifier does)"
            )
        y = batch[1]
        n = self.attacked_count(len(y))
        clean_logits, clean_y = (self._clean_logits, y) if self._clean_logits is not None else (logits[n:], y[n:])
        self._clean_logits = None
        self._pending.append((logits[:n], y[:n], clean_logits, clean_y))
        if pl_module.automatic_optimization:
            self._log_metrics(pl_module)

    def _log_metrics(self, pl_module: LightningModule) -> None:
        """Log the metrics of the steps since the last call (one batch, or the batches of a chunk), each
        computed once over all their examples: the epoch means are those of one computation per step,
        and the step values are the batch's or the chunk's (as the Classifier's own), through
        `Classifier.log_train` (a tensor operation's cost, epoch means over all ranks)."""
        if not self._pending:
            return
        adv_logits, adv_y, clean_logits, clean_y = (torch.cat(parts) for parts in zip(*self._pending))
        (seconds, examples), self._pending, self._attack_time = self._attack_time, [], (0.0, 0)
        pl_module.log_train("train/adv_loss", classification_loss(adv_logits, adv_y), batch_size=len(adv_y))
        pl_module.log_train("train/adv_acc", (predictions(adv_logits) == adv_y).float().mean(), batch_size=len(adv_y))
        pl_module.log_train("train/clean_acc", (predictions(clean_logits) == clean_y).float().mean(), batch_size=len(clean_y))
        # Seconds per attacked batch, averaged over the batches weighted by their size, as before.
        pl_module.log_train("train/adv_step_time", torch.tensor(seconds / examples), batch_size=examples)
