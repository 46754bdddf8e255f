"""`PruneOnce`: magnitude pruning for the paper's "prune" rows (Table 1, 4(a) and 4(c))."""

from collections.abc import Sequence

from lightning.pytorch.callbacks import ModelPruning
from torch import nn

from advconf.errors import AdvconfError


class PruneOnce(ModelPruning):
    """Lightning's `ModelPruning`, set up to prune once: the `amount` smallest-magnitude weights of
    all conv/linear layers (global L1) at the end of epoch `epoch`; training then fine-tunes the rest,
    and the masks are made permanent at the end.

    Plain `ModelPruning` prunes `amount` of the remaining weights every epoch (compounding to nearly
    all of them over a long schedule), resets the survivors to their initial values (lottery ticket),
    also prunes batch-norm weights, and its schedule arguments are lambdas YAML cannot express.
    The `Quantization` callback recognises it, so pruned weights stay zero once quantised.

    Args:
        amount: fraction of the weights to prune, in (0, 1).
        epoch: the epoch at whose end to prune.
    """

    def __init__(self, amount: float = 0.5, epoch: int = 0) -> None:
        if not 0 < amount < 1:
            raise AdvconfError(f"PruneOnce amount must be in (0, 1), got {amount}")
        super().__init__(
            "l1_unstructured",
            parameter_names=["weight"],
            amount=amount,
            apply_pruning=lambda current: current == epoch,
            use_lottery_ticket_hypothesis=False,
        )
        self.epoch = epoch

    def filter_parameters_to_prune(self, parameters_to_prune: Sequence[tuple[nn.Module, str]] = ()) -> Sequence[tuple[nn.Module, str]]:
        return [(m, name) for m, name in parameters_to_prune if isinstance(m, (nn.Conv2d, nn.Linear))]
