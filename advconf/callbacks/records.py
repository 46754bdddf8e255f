"""Per-example records of the evaluations, gathered over processes in test-set order, and the
confidence metrics computed from them.

Memory is a few values per example and budget (correct, max-softmax, margin), never logits or
inputs, so a 10k-example test set with a ten-budget grid stays well under a megabyte.

Under DDP, Lightning's ``DistributedSampler`` pads the test set so every process gets as many
examples as the others, repeating the first ones; counting those twice would change
``num_examples`` and every accuracy. Each record therefore carries the dataset index of its
example (-1 for padding), and ``ExampleRecords.gather`` keeps one record per index, in index order.
"""

from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler
from torchmetrics.functional.classification import binary_calibration_error

from advconf.errors import AdvconfError
from advconf.metrics import detection_auroc, vulnerability_auroc

ECE_BINS = 15


def example_order(trainer: Trainer) -> list[int] | None:
    """Dataset indices of the examples this process's test loader serves, in the order it serves them,
    with -1 for the padding a ``DistributedSampler`` adds (repeats that must not count twice).

    Known for a sequential ``DataLoader`` (plain, or Lightning's ``DistributedSampler(shuffle=False)``)
    and for FFCV's sequential loader; ``None`` otherwise.
    """
    loaders = trainer.test_dataloaders
    loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
    if isinstance(loader, DataLoader):
        sampler = getattr(loader.batch_sampler, "sampler", loader.sampler)
        if isinstance(sampler, SequentialSampler):
            return list(range(len(sampler)))
        if isinstance(sampler, DistributedSampler) and not sampler.shuffle:
            return without_padding(sampler, [int(i) for i in sampler])
        return None
    order = getattr(loader, "traversal_order", None)  # ffcv.Loader
    if order is not None and type(order).__name__ == "Sequential":
        indices = [int(i) for i in order.sample_order(0)]
        sampler = getattr(order, "sampler", None)  # set when distributed
        return without_padding(sampler, indices) if isinstance(sampler, DistributedSampler) else indices
    return None


def without_padding(sampler: DistributedSampler, indices: list[int]) -> list[int]:
    """-1 at the positions a ``DistributedSampler(shuffle=False)`` filled with repeats: its k-th index on
    this rank is position ``k * num_replicas + rank`` of the padded list, padding beyond the data's length."""
    n = len(sampler.dataset)
    return [i if k * sampler.num_replicas + sampler.rank < n else -1 for k, i in enumerate(indices)]


class ExampleRecords:
    """Named per-example columns (first dimension = example), recorded batch by batch."""

    def __init__(self) -> None:
        self.reset(None)

    def reset(self, order: list[int] | None) -> None:
        """Start a test epoch; ``order`` is this process's example order (``example_order``)."""
        self._order = order
        self._seen = 0
        self._columns: dict[str, list[Tensor]] = {}

    def next_indices(self, n: int) -> Tensor:
        """Dataset indices of the next ``n`` examples this process serves."""
        if self._order is None:
            return torch.arange(self._seen, self._seen + n)
        return torch.tensor(self._order[self._seen : self._seen + n], dtype=torch.long)

    def add(self, index: Tensor, **columns: Tensor | None) -> None:
        """Record one batch: the examples' dataset ``index`` and columns with one row per example
        (``None`` = not recorded)."""
        self._seen += len(index)
        self._columns.setdefault("index", []).append(index.cpu())
        for name, column in columns.items():
            if column is not None:
                self._columns.setdefault(name, []).append(column.detach().float().cpu())

    def gather(self, pl_module: LightningModule) -> dict[str, Tensor]:
        """Every column over all processes, one row per test example, in dataset order.

        Every process must call it (it is a collective operation under DDP).
        """
        local = {name: torch.cat(parts) for name, parts in self._columns.items()}
        world = pl_module.trainer.world_size
        if world == 1:
            return {name: column for name, column in local.items() if name != "index"}
        if self._order is None:
            raise AdvconfError(
                "evaluating under several processes needs a sequential test loader (its example order must be "
                "known to count each example once)"
            )
        gathered = {name: _all_gather_rows(pl_module, column) for name, column in sorted(local.items())}
        index = gathered.pop("index").long()
        # Drop the sampler's padding, and keep one record of every index.
        order = torch.argsort(index, stable=True)
        keep = index[order] >= 0
        keep[1:] &= index[order][1:] != index[order][:-1]
        chosen = order[keep]
        return {name: column[chosen] for name, column in gathered.items()}


def _all_gather_rows(pl_module: LightningModule, local: Tensor) -> Tensor:
    """Concatenate every process's rows (processes may hold different numbers of rows)."""
    device = pl_module.device
    count = torch.tensor([len(local)], device=device)
    counts = pl_module.all_gather(count).flatten().tolist()
    padded = torch.zeros((max(counts), *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: len(local)] = local.to(device)
    every = pl_module.all_gather(padded)  # (world, max rows, ...)
    return torch.cat([every[rank, :n] for rank, n in enumerate(counts)]).cpu()


def sum_over_processes(pl_module: LightningModule, totals: Tensor) -> Tensor:
    """Element-wise sum of ``totals`` over all processes (every process must call it)."""
    if pl_module.trainer.world_size == 1:
        return totals
    return pl_module.all_gather(totals.to(pl_module.device)).sum(dim=0).cpu()


def calibration_error(conf: Tensor, correct: Tensor) -> float:
    """Top-label ECE (L1, 15 equal-width bins) from max-softmax and correctness alone.

    Top-label ECE only looks at the top probability and whether the top class is right, so it is the
    binary calibration error of "confidence" as a forecast of "correct" — no need to keep (N, K) probabilities.
    """
    if conf.numel() == 0:
        return float("nan")
    return float(binary_calibration_error(conf, correct.long(), n_bins=ECE_BINS, norm="l1"))


def mean(values: Tensor) -> float:
    return values.float().mean().item() if values.numel() else float("nan")


def metrics(correct: Tensor, conf: Tensor) -> dict[str, float]:
    return {"accuracy": mean(correct), "confidence": mean(conf), "ece": calibration_error(conf, correct.bool())}


def budget_rows(columns: dict[str, Tensor], budgets: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(clean metrics, one metrics row per budget) from ``correct``/``confidence`` columns of shape
    (N, budgets + 1) — column 0 clean — plus optional ``top5`` (same shape) and ``margin`` (N).

    ``detection_auroc`` scores max-softmax for telling natural inputs from successful adversarial
    examples. Natural: every clean test input (Hendrycks & Gimpel's in-distribution set, which
    includes the clean mistakes). Successful adversarial: the perturbed inputs of examples that were
    right clean and are wrong perturbed (``num_adversarial`` of them). ``vulnerability_auroc_*``:
    among the examples right clean, how well low clean confidence / low clean logit margin predicts
    which ones the perturbation breaks (``advconf.metrics.vulnerability_auroc``).
    """
    correct, conf = columns["correct"].bool(), columns["confidence"]
    top5, margin = columns.get("top5"), columns.get("margin")
    n = len(correct)

    def with_top5(i: int) -> dict[str, float]:
        return {} if top5 is None else {"top5_accuracy": mean(top5[:, i])}

    clean = {**metrics(correct[:, 0], conf[:, 0]), **with_top5(0), "num_examples": n}
    rows = []
    right = correct[:, 0]
    for i in range(1, budgets + 1):
        fooled = right & ~correct[:, i]
        broken = fooled[right]
        rows.append(
            {
                **metrics(correct[:, i], conf[:, i]),
                **with_top5(i),
                "num_examples": n,
                "num_adversarial": int(fooled.sum()),
                "adversarial_confidence": mean(conf[:, i][fooled]),
                "detection_auroc": detection_auroc(conf[:, 0], conf[:, i][fooled]),
                "vulnerability_auroc_confidence": vulnerability_auroc(conf[:, 0][right], broken),
                "vulnerability_auroc_margin": None if margin is None else vulnerability_auroc(margin[right], broken),
            }
        )
    return clean, rows
