"""Robust accuracy over a 5-eps grid: ``AttackEvaluation`` in ``Trainer.test`` vs the plain loop once per eps."""

import json
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from advconf.attacks import PGD
from advconf.callbacks import AttackEvaluation
from advconf.models import VanillaCNN
from advconf.module import Classifier
from benchmarks.common import PixelTestData, fashion_mnist, plain_pgd, train_quickly

EPS = [0.02, 0.05, 0.1, 0.15, 0.2]


def plain_robust_accuracy(model: torch.nn.Module, loader: DataLoader, steps: int) -> list[float]:
    """What one writes without advconf: every example attacked at every budget."""
    accuracies = []
    for eps in EPS:
        correct = total = 0
        for x, y in loader:
            x_adv = plain_pgd(model, x, y, eps, 2.5 * eps / steps, steps, seed=0)
            with torch.no_grad():
                correct += (model(x_adv).argmax(1) == y).sum().item()
            total += len(y)
        accuracies.append(correct / total)
    return accuracies


def advconf_robust_accuracy(model: torch.nn.Module, loader: DataLoader, steps: int, masking_checks: bool = False) -> list[float]:
    evaluation = AttackEvaluation(PGD(steps=steps, seed=0), eps=EPS, name="bench", masking_checks=masking_checks)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(
            inference_mode=False, logger=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[evaluation], default_root_dir=run_dir, accelerator="cpu", devices=1,
        )
        trainer.test(Classifier(model, num_classes=10), datamodule=PixelTestData(loader), verbose=False)
        results = json.loads((Path(run_dir) / "results" / "bench.json").read_text())["results"]
    return [row["accuracy"] for row in results]


def run(quick: bool = False) -> list[dict]:
    n, steps = (200, 5) if quick else (500, 10)
    torch.manual_seed(0)
    model = train_quickly(VanillaCNN(nf=16), *fashion_mnist(True, 20_000), steps=100 if quick else 300)
    loader = DataLoader(TensorDataset(*fashion_mnist(False, n)), batch_size=100)
    sides = {
        "plain": lambda: plain_robust_accuracy(model, loader, steps),
        "advconf": lambda: advconf_robust_accuracy(model, loader, steps),
        # the default: gradient-masking checks on the first 512 examples come on top
        "advconf_with_masking_checks": lambda: advconf_robust_accuracy(model, loader, steps, masking_checks=True),
    }
    times, accuracies = {}, {}
    for _ in range(1):  # minutes per side: one interleaved round
        for side, fn in sides.items():
            start = time.perf_counter()
            accuracies[side] = fn()
            times.setdefault(side, []).append(time.perf_counter() - start)
    advconf_time, plain_time = min(times["advconf"]), min(times["plain"])
    return [{
        "benchmark": f"Robust-accuracy evaluation, PGD-{steps}, 5 eps, {n} images (VanillaCNN nf=16), masking checks off",
        "advconf_s": advconf_time,
        "plain_s": plain_time,
        "ratio": plain_time / advconf_time,  # > 1: advconf is faster
        "target": ">= 2.0",
        "advconf_with_masking_checks_s": min(times["advconf_with_masking_checks"]),
        "ratio_with_masking_checks": plain_time / min(times["advconf_with_masking_checks"]),
        "eps": EPS,
        "advconf_accuracy": accuracies["advconf"],
        "plain_accuracy": accuracies["plain"],
        "advconf_never_above_plain": all(a <= p + 1e-9 for a, p in zip(accuracies["advconf"], accuracies["plain"])),
    }]
