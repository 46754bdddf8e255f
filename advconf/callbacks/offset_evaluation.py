"""`OffsetEvaluation`: paper §4.1, Fig 1 — accuracy when a constant is added to (or subtracted from) every pixel."""

from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from advconf.attacks import ConstantOffset
from advconf.budgets import Budget
from advconf.callbacks.attack_evaluation import validate_eps
from advconf.callbacks.evaluation import Evaluation, Report
from advconf.callbacks.records import budget_rows
from advconf.functional import confidence, margin, predictions
from advconf.plots import curves_figure

SIGNS = ("added", "subtracted")
DEFAULT_OFFSETS = [round(0.1 * i, 1) for i in range(11)]


class OffsetEvaluation(Evaluation):
    """Sweep the constant offset ``c`` over ``offsets``, both signs, on every test example.

    Gradient-free, and every example is evaluated at every offset (a larger offset does not contain
    a smaller one, so nothing can be skipped). Each (sign, offset) gets the same confidence metrics
    as an attack budget. Writes ``results/<name>.json``, ``.csv`` (one row per sign and offset) and
    ``.png`` (accuracy vs |c|, one line per sign) and logs a W&B table with one line per sign.

    Args:
        offsets: magnitudes |c| in input units (the paper's Fig 1: up to 1.0 on MNIST, 60/255 on CIFAR-10).
        name: name of the result files and of the W&B keys.
        overwrite: see ``Evaluation``.
    """

    needs_gradients = False

    def __init__(self, offsets: list[Budget] = DEFAULT_OFFSETS, name: str = "offset", overwrite: bool = False) -> None:
        super().__init__(name, overwrite)
        self.offsets = validate_eps(offsets)
        self.attack = ConstantOffset()

    def budgets(self) -> list[tuple[str, float]]:
        return [(sign, c) for sign in SIGNS for c in self.offsets]

    def evaluate_batch(self, pl_module: LightningModule, x: Tensor, y: Tensor, index: Tensor) -> dict[str, Tensor | None]:
        logits = pl_module(x)
        correct, conf = [predictions(logits) == y], [confidence(logits)]
        for sign, c in self.budgets():
            shifted = pl_module(self.attack(pl_module, x, y, eps=c if sign == "added" else -c, box=self.box))
            correct.append(predictions(shifted) == y)
            conf.append(confidence(shifted))
        return {"correct": torch.stack(correct, dim=1), "confidence": torch.stack(conf, dim=1), "margin": margin(logits)}

    def report(self, trainer: Trainer, pl_module: LightningModule, columns: dict[str, Tensor], more: Any) -> Report:
        clean, rows = budget_rows(columns, len(self.budgets()))
        rows = [{"attack": self.name, "sign": sign, "offset": c, **row} for (sign, c), row in zip(self.budgets(), rows)]
        n = clean["num_examples"]
        payload = {
            "offsets": self.offsets,
            "num_examples": n,
            "clean": clean,
            "results": {sign: [strip(row) for row in rows if row["sign"] == sign] for sign in SIGNS},
        }
        accuracy = {sign: [r["accuracy"] for r in rows if r["sign"] == sign] for sign in SIGNS}
        curves = {f"accuracy ({sign})": accuracy[sign] for sign in SIGNS}
        curves |= {f"confidence ({sign})": [r["confidence"] for r in rows if r["sign"] == sign] for sign in SIGNS}
        lines = [f"{self.name}: {n} examples, clean accuracy {clean['accuracy']:.4f}", f"{'|c|':>8} {'added':>8} {'subtracted':>11}"]
        lines += [f"{c:>8.4g} {a:>8.4f} {s:>11.4f}" for c, a, s in zip(self.offsets, accuracy["added"], accuracy["subtracted"])]
        return Report(
            payload=payload,
            rows=rows,
            figure=curves_figure(self.offsets, curves, xlabel="|c|", ylabel="fraction", title=f"{self.name} ({n} examples)"),
            x="offset",
            ys=["accuracy", "confidence"],
            stroke="sign",
            lines=lines,
        )


def strip(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row without the keys the JSON already groups by."""
    return {k: v for k, v in row.items() if k not in ("attack", "sign")}
