"""`Pruning`: Lightning's `ModelPruning`, restricted from YAML to chosen conv/linear layers.

`ModelPruning` alone, configured from YAML, prunes every parameter called `weight` (batch norm
scales included), because the modules to prune can only be given as Python objects.
"""

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelPruning
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import LAYER_TYPES


class Pruning(ModelPruning):
    """`ModelPruning` over the weights of the conv/linear layers whose names match `modules`.

    Works with quantised layers: while pruned, a layer computes with `weight_orig * weight_mask`;
    after the masks are made permanent (end of fit, and in every checkpoint) the `Quantization`
    callback keeps the zero weights at zero.

    Args:
        modules: fnmatch patterns on the model's module names (e.g. ``["linear"]``); ``["*"]`` = all
            conv/linear layers. A pattern that matches no such layer is an error.
        pruning_fn: name of a `torch.nn.utils.prune` method (typed ``str`` here so the saved
            ``config.yaml`` holds the name; `ModelPruning`'s callable-or-string type does not serialise).
        amount: fraction (float) or number (int) of weights to prune.
        apply_pruning: whether to prune, or a function of the epoch (``operator.not_``: epoch 0 only).
        **kwargs: other `ModelPruning` arguments (`use_lottery_ticket_hypothesis`, ...).
    """

    def __init__(
        self,
        modules: list[str] = ["*"],
        pruning_fn: str = "l1_unstructured",
        amount: int | float = 0.5,
        apply_pruning: bool | Callable[[int], bool] = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(pruning_fn=pruning_fn, amount=amount, apply_pruning=apply_pruning, **kwargs)
        self.modules = list(modules)
        self._names: dict[nn.Module, str] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        model = getattr(pl_module, "model", pl_module)
        self._names = {m: n for n, m in model.named_modules() if isinstance(m, LAYER_TYPES)}
        unmatched = [p for p in self.modules if not any(fnmatchcase(n, p) for n in self._names.values())]
        if unmatched:
            raise AdvconfError(f"Pruning patterns match no conv/linear layer: {unmatched}; layers are {list(self._names.values())}")
        super().setup(trainer, pl_module, stage)

    def filter_parameters_to_prune(self, parameters_to_prune: Any = ()) -> Any:
        return [
            (module, name)
            for module, name in parameters_to_prune
            if name == "weight" and module in self._names and any(fnmatchcase(self._names[module], p) for p in self.modules)
        ]
