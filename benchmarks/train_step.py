"""Training step time: ``Classifier`` + ``Trainer`` (as ``advconf fit`` builds them) vs a plain loop,
and PGD-7 adversarial training (``AdversarialTraining``) vs natural training, same model and data."""

import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from advconf.attacks import PGD
from advconf.callbacks.adversarial_training import AdversarialTraining
from advconf.models import VanillaCNN
from advconf.module import Classifier
from benchmarks.common import fashion_mnist


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
        options = dict(enable_progress_bar=False, logger=False, enable_model_summary=False, enable_checkpointing=False) if lean else {}
        trainer = Trainer(max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, accelerator="cpu", devices=1,
                          default_root_dir=run_dir, callbacks=[clock, *callbacks], **options)
        trainer.fit(Classifier(VanillaCNN(nf=32), num_classes=10), train_dataloaders=loader)
    return clock.median_step()


def plain_step(loader: DataLoader, steps: int) -> float:
    torch.manual_seed(0)
    model = VanillaCNN(nf=32).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stamps = []
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        stamps.append(time.perf_counter())
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def run(quick: bool = False) -> list[dict]:
    steps = 15 if quick else 40
    loader = DataLoader(TensorDataset(*fashion_mnist(True, 128 * (steps + 1))), batch_size=128, shuffle=True)
    sides = {
        "plain": lambda: plain_step(loader, steps),
        "lean": lambda: lightning_step(loader, steps, lean=True),
        "defaults": lambda: lightning_step(loader, steps, lean=False),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(2 if quick else 3):
        for name, fn in sides.items():
            times[name].append(fn())
    median = {name: statistics.median(t) for name, t in times.items()}

    adv_steps = 6 if quick else 15
    pgd7 = AdversarialTraining(PGD(steps=7, seed=None), eps=0.1)
    natural, adversarial = [], []
    for _ in range(2):
        natural.append(lightning_step(loader, adv_steps, lean=True))
        adversarial.append(lightning_step(loader, adv_steps, lean=True, callbacks=(pgd7,)))
    return [
        {
            "benchmark": "Training step, advconf fit (Classifier + Trainer, no progress bar/logger/checkpoints) vs plain loop, VanillaCNN nf=32, batch 128",
            "advconf_step_ms": 1000 * median["lean"],
            "plain_step_ms": 1000 * median["plain"],
            "ratio": median["lean"] / median["plain"],  # step-time ratio: < 1.10 is the target
            "target": "<= 1.10",
            "lightning_defaults_step_ms": 1000 * median["defaults"],
            "ratio_with_lightning_defaults": median["defaults"] / median["plain"],
        },
        {
            "benchmark": "Training step, PGD-7 adversarial training vs natural (advconf fit, same model, batch 128)",
            "adversarial_step_ms": 1000 * statistics.median(adversarial),
            "natural_step_ms": 1000 * statistics.median(natural),
            "ratio": statistics.median(adversarial) / statistics.median(natural),
            "target": "about 8 (7 attack + 1 training forward/backward)",
        },
    ]
