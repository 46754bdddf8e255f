"""Choosing which modules of a model to quantise, and swapping them in place."""

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import torch
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import LAYER_TYPES
from advconf.quant.functions import FULL_PRECISION
from advconf.quant.layers import (
    QUANTIZABLE_ACTIVATIONS,
    QUANTIZED_LAYER,
    quantize_activation_module,
    quantize_layer,
    restore_module,
)



@dataclass
class QuantizedModules:
    """Names (as in `model.named_modules()`) of what `quantize_model` swapped."""

    layers: list[str] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)


def execution_order(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Names of the conv/linear and activation modules in the order they run on `example_input`
    (a module that runs twice appears twice).

    Registration order is not execution order: torchvision's ResNet registers `downsample` after
    `conv2`, and a model may define its readout before its features. The pass runs in eval mode
    without gradients, so batch-norm statistics are untouched.
    """
    names = {module: name for name, module in model.named_modules()}
    order: list[str] = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: order.append(names[m]))
        for module in names
        if isinstance(module, LAYER_TYPES + QUANTIZABLE_ACTIVATIONS)
    ]
    modes = {module: module.training for module in names}
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    finally:
        for hook in hooks:
            hook.remove()
        for module, training in modes.items():
            module.training = training
    return order


def _matching(names: list[str], patterns: list[str], what: str) -> set[str]:
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise AdvconfError(f"quantization {what} patterns match no conv/linear layer: {unmatched}; layers are {names}")
    return {n for n in names if any(fnmatchcase(n, p) for p in patterns)}


def quantize_model(
    model: nn.Module,
    example_input: torch.Tensor,
    weight_bits: int = FULL_PRECISION,
    activation_bits: int = FULL_PRECISION,
    gradient_bits: int = FULL_PRECISION,
    keep_first_last: bool = True,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    zeros_are_pruned: bool = False,
) -> QuantizedModules:
    """Swap the selected conv/linear layers of `model` for DoReFa ones, and the ReLU / LeakyReLU that
    runs after a selected layer for an activation quantiser. Calling it again re-plans from scratch.

    Selection: every conv/linear that runs on `example_input`, minus the first and last to run when
    `keep_first_last`, restricted to `include` patterns and minus `exclude` patterns (fnmatch on
    module names). An activation is quantised when the last conv/linear to run before it was selected.
    """
    for module in model.modules():
        restore_module(module)
    order = execution_order(model, example_input)
    modules = dict(model.named_modules())
    layers = list(dict.fromkeys(n for n in order if isinstance(modules[n], LAYER_TYPES)))
    if not layers:
        raise AdvconfError("quantization found no conv/linear layer that runs in the model's forward pass")

    selected = set(layers[1:-1] if keep_first_last else layers)
    if include is not None:
        selected &= _matching(layers, include, "include")
    selected -= _matching(layers, exclude or [], "exclude")
    if not selected and {weight_bits, activation_bits, gradient_bits} != {FULL_PRECISION}:
        raise AdvconfError(
            f"quantization selects no layer: the model runs {len(layers)} conv/linear layer(s) {layers}"
            + (" and keep_first_last keeps the first and last at full precision" if keep_first_last else "")
        )
    unsupported = [f"{n} ({type(modules[n]).__name__})" for n in layers if n in selected and type(modules[n]) not in QUANTIZED_LAYER]
    if unsupported:
        raise AdvconfError(f"cannot quantise {unsupported}: only nn.Conv2d and nn.Linear are supported; exclude them")

    activations: list[str] = []
    previous_layer = None
    for name in order:
        if isinstance(modules[name], LAYER_TYPES):
            previous_layer = name
        elif previous_layer in selected and name not in activations:
            activations.append(name)
    if activation_bits != FULL_PRECISION and selected - {layers[-1]} and not activations:
        raise AdvconfError(
            f"activation_bits={activation_bits}, but no nn.ReLU / nn.LeakyReLU module runs after a quantised layer "
            "(activations written as function calls cannot be swapped)"
        )

    result = QuantizedModules(layers=[n for n in layers if n in selected])
    for name in result.layers:
        quantize_layer(modules[name], weight_bits, gradient_bits, zeros_are_pruned)
    if activation_bits != FULL_PRECISION:
        result.activations = activations
        for name in activations:
            quantize_activation_module(modules[name], activation_bits)
    return result
