"""`OffsetEvaluation`: paper §4.1, Fig 1 — accuracy when a constant is added to (or subtracted from) every pixel."""

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.attacks import ConstantOffset
from advconf.callbacks.attack_evaluation import input_box, validate_eps
from advconf.callbacks.records import ConfidenceRecords
from advconf.errors import AdvconfError
from advconf.functional import confidence, predictions
from advconf.results import plot_curves, publish, run_info

SIGNS = ("added", "subtracted")
DEFAULT_OFFSETS = [round(0.1 * i, 1) for i in range(11)]


class OffsetEvaluation(Callback):
    """Sweep the constant offset ``c`` over ``offsets``, both signs, on every test example.

    Gradient-free, so it runs under ``no_grad``, and every example is evaluated at every offset (a
    larger offset does not contain a smaller one, so nothing can be skipped). Each (sign, offset)
    gets the same confidence metrics as an attack budget (accuracy, mean max-softmax, ECE, AUROC).
    Writes ``results/<name>.json``, ``.csv`` (one row per sign and offset) and ``.png`` (accuracy vs
    |c|, one line per sign) and logs a W&B table with one line per sign.

    Args:
        offsets: magnitudes |c| in input units (the paper's Fig 1: up to 1.0 on MNIST, 60/255 on CIFAR-10).
        name: name of the result files and of the W&B keys.
    """

    def __init__(self, offsets: list[float] = DEFAULT_OFFSETS, name: str = "offset") -> None:
        self.offsets = validate_eps(offsets)
        if not name or "/" in name:
            raise AdvconfError(f"offset evaluation name must be a non-empty file name, got {name!r}")
        self.name = name
        self.attack = ConstantOffset()
        self.records = ConfidenceRecords(len(SIGNS) * len(self.offsets))

    def budgets(self) -> list[tuple[str, float]]:
        return [(sign, c) for sign in SIGNS for c in self.offsets]

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.records.reset()

    @torch.no_grad()
    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        x, y = batch[0], batch[1]
        box = input_box(trainer)
        logits = pl_module(x)
        self.records.add(None, predictions(logits) == y, confidence(logits))
        for i, (sign, c) in enumerate(self.budgets()):
            logits = pl_module(self.attack(pl_module, x, y, eps=c if sign == "added" else -c, box=box))
            self.records.add(i, predictions(logits) == y, confidence(logits))

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        clean, rows, n = self.records.summary(pl_module)
        if not trainer.is_global_zero:
            return
        rows = [{"attack": self.name, "sign": sign, "offset": c, **row} for (sign, c), row in zip(self.budgets(), rows)]
        payload = {
            "name": self.name,
            "offsets": self.offsets,
            "num_examples": n,
            "clean": clean,
            "results": {sign: [strip(row) for row in rows if row["sign"] == sign] for sign in SIGNS},
            **run_info(trainer, pl_module),
        }
        curves = {f"accuracy ({sign})": [r["accuracy"] for r in rows if r["sign"] == sign] for sign in SIGNS}
        curves |= {f"confidence ({sign})": [r["confidence"] for r in rows if r["sign"] == sign] for sign in SIGNS}
        figure = plot_curves(self.offsets, curves, xlabel="|c|", ylabel="fraction", title=f"{self.name} ({n} examples)")
        publish(trainer, self.name, payload, rows, figure, x="offset", ys=["accuracy", "confidence"], stroke="sign")
        print(f"\n{self.name}: {n} examples, clean accuracy {clean['accuracy']:.4f}")
        print(f"{'|c|':>8} {'added':>8} {'subtracted':>11}")
        for c, added, subtracted in zip(self.offsets, curves["accuracy (added)"], curves["accuracy (subtracted)"]):
            print(f"{c:>8.4g} {added:>8.4f} {subtracted:>11.4f}")


def strip(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row without the keys the JSON already groups by."""
    return {k: v for k, v in row.items() if k not in ("attack", "sign")}
