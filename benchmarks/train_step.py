"""Training step time: ``Classifier`` + ``Trainer`` (as ``advconf fit`` builds them) vs a plain loop
taking turns with it step by step, and PGD-7 adversarial training (``AdversarialTraining``) vs natural
training, same model and data."""

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from advconf.attacks import PGD
from advconf.callbacks.adversarial_training import AdversarialTraining
from advconf.models import VanillaCNN
from advconf.module import Classifier
from benchmarks.common import fashion_mnist
from benchmarks.small_models import Turns


class StepClock(Callback):
    """Wall time between the ends of successive training batches (steady state: no start-up cost)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, *args: object) -> None:
        self.stamps.append(time.perf_counter())

    def median_step(self) -> float:
        return statistics.median(b - a for a, b in zip(self.stamps, self.stamps[1:]))


def lightning_step(loader: DataLoader, steps: int, lean: bool, callbacks: tuple[Callback, ...] = ()) -> float:
    """Median step time of ``Trainer.fit``. ``lean``: what a benchmark config switches off
    (progress bar, logger, model summary, checkpointing); otherwise Lightning's defaults."""
    torch.manual_seed(0)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as run_dir:
        options = {"enable_progress_bar": False, "logger": False, "enable_model_summary": False, "enable_checkpointing": False} if lean else {}
        trainer = Trainer(max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, accelerator="cpu", devices=1,
                          default_root_dir=run_dir, callbacks=[clock, *callbacks], **options)
        trainer.fit(Classifier(VanillaCNN(nf=32), num_classes=10), train_dataloaders=loader)
    return clock.median_step()


def plain_stepper(loader: DataLoader) -> Callable[[], None]:
    """One step per call of the plain loop over ``loader``: forward, cross-entropy, backward, Adam."""
    torch.manual_seed(0)
    model = VanillaCNN(nf=32).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches: Iterator = iter(())

    def step() -> None:
        nonlocal batches
        x, y = next(batches, (None, None))
        if x is None:
            batches = iter(loader)
            x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def taking_turns(loader: DataLoader, steps: int, lean: bool) -> dict[str, float]:
    """``Trainer.fit`` on ``Classifier`` and the plain loop taking turns step by step (``Turns``): the
    pairs see the same machine load. ``lean``: what a benchmark config switches off (progress bar,
    logger, model summary, checkpointing); otherwise Lightning's defaults."""
    Turns.plain, Turns.turn_steps = plain_stepper(loader), 1
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as run_dir:
        options = {"enable_progress_bar": False, "logger": False, "enable_model_summary": False, "enable_checkpointing": False} if lean else {}
        trainer = Trainer(max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, accelerator="cpu", devices=1,
                          default_root_dir=run_dir, callbacks=[Turns()], **options)
        trainer.fit(Classifier(VanillaCNN(nf=32), num_classes=10), train_dataloaders=loader)
    return Turns.last.ratios()


def run(quick: bool = False) -> list[dict]:
    steps = 15 if quick else 40
    loader = DataLoader(TensorDataset(*fashion_mnist(True, 128 * (steps + 1))), batch_size=128, shuffle=True)
    lean, defaults = taking_turns(loader, steps, lean=True), taking_turns(loader, steps, lean=False)

    adv_steps = 6 if quick else 15
    pgd7 = AdversarialTraining(PGD(steps=7, seed=None), eps=0.1)
    natural, adversarial = [], []
    for _ in range(2):
        natural.append(lightning_step(loader, adv_steps, lean=True))
        adversarial.append(lightning_step(loader, adv_steps, lean=True, callbacks=(pgd7,)))
    return [
        {
            "benchmark": "Training step, advconf fit (Classifier + Trainer, no progress bar/logger/checkpoints) vs plain loop, VanillaCNN nf=32, batch 128",
            **lean,  # step-time ratio (median over paired turns): <= 1.10 is the target
            "target": "<= 1.10",
            "lightning_defaults_step_ms": defaults["advconf_step_ms"],
            "ratio_with_lightning_defaults": defaults["ratio"],
        },
        {
            "benchmark": "Training step, PGD-7 adversarial training vs natural (advconf fit, same model, batch 128)",
            "adversarial_step_ms": 1000 * statistics.median(adversarial),
            "natural_step_ms": 1000 * statistics.median(natural),
            "ratio": statistics.median(adversarial) / statistics.median(natural),
            "target": "about 8 (7 attack + 1 training forward/backward)",
        },
    ]
