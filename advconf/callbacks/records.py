"""Per-example records of the evaluation callbacks, and the confidence metrics computed from them.

Memory is a few values per example per budget (correct, max-softmax), never logits or inputs,
so a 10k-example test set with a ten-budget grid stays well under a megabyte.
"""

from typing import Any

import torch
from lightning.pytorch import LightningModule
from torchmetrics.functional.classification import binary_calibration_error

from advconf.metrics import detection_auroc

ECE_BINS = 15


def gathered(pl_module: LightningModule, parts: list[torch.Tensor]) -> torch.Tensor:
    """One rank's recorded batches, concatenated and gathered over all ranks."""
    local = torch.cat(parts) if parts else torch.zeros(0)
    if pl_module.trainer.world_size == 1:
        return local
    return pl_module.all_gather(local.to(pl_module.device)).flatten().cpu()


def calibration_error(conf: torch.Tensor, correct: torch.Tensor) -> float:
    """Top-label ECE (L1, 15 equal-width bins) from max-softmax and correctness alone.

    Top-label ECE only looks at the top probability and whether the top class is right, so it is the
    binary calibration error of "confidence" as a forecast of "correct" — no need to keep (N, K) probabilities.
    """
    if conf.numel() == 0:
        return float("nan")
    return float(binary_calibration_error(conf, correct.long(), n_bins=ECE_BINS, norm="l1"))


class ConfidenceRecords:
    """Correctness and max-softmax of every test example, clean and under each of ``budgets`` perturbations."""

    def __init__(self, budgets: int) -> None:
        self.budgets = budgets
        self.reset()

    def reset(self) -> None:
        self._correct: list[list[torch.Tensor]] = [[] for _ in range(self.budgets + 1)]
        self._conf: list[list[torch.Tensor]] = [[] for _ in range(self.budgets + 1)]
        self._top5: list[list[torch.Tensor]] = [[] for _ in range(self.budgets + 1)]

    def add(
        self, budget: int | None, correct: torch.Tensor, conf: torch.Tensor, top5: torch.Tensor | None = None
    ) -> None:
        """Record one batch; ``budget`` is the index in the grid, ``None`` for clean inputs.

        ``top5`` (label among the five largest logits) is recorded for models with more than five classes.
        """
        i = 0 if budget is None else budget + 1
        self._correct[i].append(correct.detach().float().cpu())
        self._conf[i].append(conf.detach().float().cpu())
        if top5 is not None:
            self._top5[i].append(top5.detach().float().cpu())

    def summary(self, pl_module: LightningModule) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """(clean metrics, one metrics row per budget, number of examples), over all ranks.

        ``detection_auroc`` scores max-softmax for telling natural inputs from successful adversarial
        examples. Natural: every clean test input (Hendrycks & Gimpel's in-distribution set, which
        includes the clean mistakes). Successful adversarial: the perturbed inputs of examples that
        were right clean and are wrong perturbed (``num_adversarial`` of them).
        """
        correct = [gathered(pl_module, parts).bool() for parts in self._correct]
        conf = [gathered(pl_module, parts) for parts in self._conf]
        top5 = [mean(gathered(pl_module, parts)) if parts else None for parts in self._top5]
        n = len(correct[0])
        clean = {**metrics(correct[0], conf[0]), **with_top5(top5[0]), "num_examples": n}
        rows = []
        for i in range(1, self.budgets + 1):
            fooled = correct[0] & ~correct[i]
            rows.append(
                {
                    **metrics(correct[i], conf[i]),
                    **with_top5(top5[i]),
                    "num_examples": n,
                    "num_adversarial": int(fooled.sum()),
                    "adversarial_confidence": mean(conf[i][fooled]),
                    "detection_auroc": detection_auroc(conf[0], conf[i][fooled]),
                }
            )
        return clean, rows, n


def mean(values: torch.Tensor) -> float:
    return values.mean().item() if values.numel() else float("nan")


def metrics(correct: torch.Tensor, conf: torch.Tensor) -> dict[str, float]:
    return {"accuracy": mean(correct.float()), "confidence": mean(conf), "ece": calibration_error(conf, correct)}


def with_top5(value: float | None) -> dict[str, float]:
    return {} if value is None else {"top5_accuracy": value}
