"""Quantised layers, swapped in by changing a module's `__class__`.

Changing the class (rather than wrapping or re-registering the weight) keeps the module object, its
parameters and their `state_dict` names exactly as they were, keeps shared modules shared, and keeps
working with `torch.nn.utils.prune` (which reads `module.weight` as `weight_orig * weight_mask`).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from advconf.quant.functions import FULL_PRECISION, quantize_activation, quantize_gradient, quantize_weight


class QuantizedLayer:
    """Mixin for conv/linear layers: DoReFa weights, and `fg` on the output (before any batch norm)."""

    weight_bits: int = FULL_PRECISION
    gradient_bits: int = FULL_PRECISION
    quantize_gradients: bool = True  # switched off by `attack_gradients`
    zeros_are_pruned: bool = False  # set when pruning is configured: a zero weight stays zero

    def quantized_weight(self) -> torch.Tensor:
        w = self.weight
        w_q = quantize_weight(w, self.weight_bits)
        if self.zeros_are_pruned and self.weight_bits not in (1, FULL_PRECISION):
            # k > 1 bits map 0 to +1/n (tanh(0) rounds half to even upward), undoing pruning; 1 bit keeps 0.
            w_q = w_q * (w != 0)
        return w_q

    def quantize_output(self, y: torch.Tensor) -> torch.Tensor:
        return quantize_gradient(y, self.gradient_bits) if self.quantize_gradients else y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_bits={self.weight_bits}, gradient_bits={self.gradient_bits}"


class QuantizedConv2d(QuantizedLayer, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize_output(self._conv_forward(x, self.quantized_weight(), self.bias))


class QuantizedLinear(QuantizedLayer, nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize_output(F.linear(x, self.quantized_weight(), self.bias))


class ClippedActivation(nn.Module):
    """DoReFa's `nonlin`, clip to [0, 1]: takes the place of the ReLU / LeakyReLU on the way into a
    full-precision layer that follows a quantised one (tensorpack's last activation before `fct`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0.0, 1.0)


class QuantizedActivation(ClippedActivation):
    """DoReFa's `activate = fa(nonlin(x))`, clip to [0, 1] then k bits: takes the place of the ReLU /
    LeakyReLU on the way into a quantised layer, so the layer multiplies k-bit inputs by k-bit weights."""

    activation_bits: int = FULL_PRECISION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return quantize_activation(x, self.activation_bits)

    def extra_repr(self) -> str:
        return f"activation_bits={self.activation_bits}"


# Exact types only: a subclass may have its own forward, which a swapped class would silently drop.
QUANTIZED_LAYER = {nn.Conv2d: QuantizedConv2d, nn.Linear: QuantizedLinear}
_ORIGINAL_LAYER = {quantized: original for original, quantized in QUANTIZED_LAYER.items()}
QUANTIZABLE_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU)


def quantize_layer(module: nn.Module, weight_bits: int, gradient_bits: int, zeros_are_pruned: bool) -> None:
    module.__class__ = QUANTIZED_LAYER[type(module)]
    module.weight_bits = weight_bits
    module.gradient_bits = gradient_bits
    module.zeros_are_pruned = zeros_are_pruned


def swap_activation(module: nn.Module, activation_bits: int) -> None:
    """Replace a ReLU / LeakyReLU by DoReFa's clip, quantised to `activation_bits` (32: clip only)."""
    module._original_class = type(module)
    if activation_bits == FULL_PRECISION:
        module.__class__ = ClippedActivation
    else:
        module.__class__ = QuantizedActivation
        module.activation_bits = activation_bits


def restore_module(module: nn.Module) -> None:
    """Undo `quantize_layer` / `swap_activation` (no-op on other modules)."""
    if isinstance(module, QuantizedLayer):
        module.__class__ = _ORIGINAL_LAYER[type(module)]
        for name in ("weight_bits", "gradient_bits", "zeros_are_pruned", "quantize_gradients"):
            module.__dict__.pop(name, None)
    elif isinstance(module, ClippedActivation) and "_original_class" in module.__dict__:
        module.__class__ = module.__dict__.pop("_original_class")
        module.__dict__.pop("activation_bits", None)


def quantized_layers(model: nn.Module) -> Iterator[QuantizedLayer]:
    return (m for m in model.modules() if isinstance(m, QuantizedLayer))


@contextmanager
def attack_gradients(model: nn.Module) -> Iterator[nn.Module]:
    """Switch DoReFa gradient quantisation off inside the block (paper Table 3: attacks use 32-bit
    gradients); weights and activations stay quantised with their straight-through gradients."""
    layers = list(quantized_layers(model))
    before = [layer.quantize_gradients for layer in layers]
    for layer in layers:
        layer.quantize_gradients = False
    try:
        yield model
    finally:
        for layer, state in zip(layers, before):
            layer.quantize_gradients = state
