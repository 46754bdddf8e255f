"""`PerLayerWeightDecay`: an L2 penalty with its own coefficient per layer, added to the training loss."""

from fnmatch import fnmatchcase

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import LAYER_TYPES


def weighted_layers(model: nn.Module, coefficients: dict[str, float]) -> list[tuple[float, nn.Module]]:
    """(coefficient, layer) for each conv/linear layer whose name matches a pattern; the first
    matching pattern, in the order given, sets the coefficient."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LAYER_TYPES)]
    unmatched = [p for p in coefficients if not any(fnmatchcase(name, p) for name, _ in layers)]
    if unmatched:
        names = [name for name, _ in layers]
        raise AdvconfError(f"PerLayerWeightDecay patterns match no conv/linear layer: {unmatched}; layers are {names}")
    chosen = []
    for name, module in layers:
        coeff = next((c for p, c in coefficients.items() if fnmatchcase(name, p)), None)
        if coeff:
            chosen.append((coeff, module))
    return chosen


def l2_penalty(layers: list[tuple[float, nn.Module]]) -> torch.Tensor:
    # `module.weight`, not the parameter: under pruning it is weight_orig * weight_mask.
    terms = [coeff * module.weight.pow(2).sum() for coeff, module in layers]
    # Summed from the first term, not from sum()'s default 0: an `0 + t` costs a tensor operation and
    # an autograd node per step (4% of a logistic regression's step) and changes no bit.
    return sum(terms[1:], terms[0])


class PerLayerWeightDecay(Callback):
    """L2 penalty ``Σ_layers coeff · Σ w²`` over the weights (not biases, not batch norm) of the
    conv/linear layers whose names match, added to the training loss and logged as ``train/l2``.

    Convention: TensorFlow's ``tf.nn.l2_loss(w)`` is ``Σ w² / 2``, so a TF model trained with
    ``coeff · tf.nn.l2_loss(w)`` corresponds to ``coeff / 2`` here. Quantised layers are penalised on
    their real-valued (latent) weights, as tensorpack does.

    Args:
        coefficients: fnmatch pattern on the model's module names → coefficient, e.g.
            ``{"features.conv1": 0.05, "classifier": 0.05}`` or ``{"*": 0.5}``. A layer takes the
            first pattern that matches it; a pattern that matches no layer is an error.
    """

    def __init__(self, coefficients: dict[str, float]) -> None:
        if not coefficients:
            raise AdvconfError("PerLayerWeightDecay needs at least one pattern: coefficient pair")
        negative = {p: c for p, c in coefficients.items() if not c >= 0}
        if negative:
            raise AdvconfError(f"PerLayerWeightDecay coefficients must be >= 0, got {negative}")
        self.coefficients = dict(coefficients)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        layers = weighted_layers(getattr(pl_module, "model", pl_module), self.coefficients)
        if layers:  # all coefficients zero: nothing to add
            pl_module.add_loss_term("l2", lambda: l2_penalty(layers))
