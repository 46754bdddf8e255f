"""Choosing which modules of a model to quantise, and swapping them in place."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import torch
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import LAYER_TYPES
from advconf.quant.functions import FULL_PRECISION
from advconf.quant.layers import QUANTIZABLE_ACTIVATIONS, QUANTIZED_LAYER, quantize_layer, restore_module, swap_activation


@dataclass
class QuantizedModules:
    """Names (as in `model.named_modules()`) of what `quantize_model` swapped: conv/linear layers with
    DoReFa weights and gradients, activations quantised on the way into them, and activations only
    clipped on the way into a full-precision layer that follows a quantised one."""

    layers: list[str] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)
    clipped_activations: list[str] = field(default_factory=list)


def execution_order(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Names of the conv/linear and activation modules in the order they run on `example_input`
    (a module that runs twice appears twice).

    Registration order is not execution order: torchvision's ResNet registers `downsample` after
    `conv2`, and a model may define its readout before its features. The pass runs in eval mode
    without gradients, so batch-norm statistics are untouched.
    """
    order: list[str] = []
    with _hooked(model, LAYER_TYPES + QUANTIZABLE_ACTIVATIONS, lambda name, x: order.append(name)):
        _run_in_eval(model, example_input)
    return order


@contextmanager
def _hooked(model: nn.Module, types: tuple[type, ...], record: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """Call `record(name, input)` whenever a module of `types` runs inside the block."""
    hooks = [
        module.register_forward_pre_hook(lambda m, args, name=name: record(name, args[0]))
        for name, module in model.named_modules()
        if isinstance(module, types)
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def _run_in_eval(model: nn.Module, example_input: torch.Tensor) -> None:
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    finally:
        for module, training in modes.items():
            module.training = training


def _matching(names: list[str], patterns: list[str], what: str) -> set[str]:
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise AdvconfError(f"quantization {what} patterns match no conv/linear layer: {unmatched}; layers are {names}")
    return {n for n in names if any(fnmatchcase(n, p) for p in patterns)}


def _activation_roles(order: list[str], modules: dict[str, nn.Module], selected: set[str]) -> tuple[list[str], list[str]]:
    """(quantised, clipped): tensorpack's `activate = fa(nonlin(x))` on the way into a quantised layer,
    and only `nonlin` on the way into a full-precision layer that follows a quantised one.

    An activation's role comes from the conv/linear layers that run just before and just after it.
    """
    quantised: list[str] = []
    clipped: list[str] = []
    previous_layer = None
    for i, name in enumerate(order):
        if isinstance(modules[name], LAYER_TYPES):
            previous_layer = name
            continue
        next_layer = next((n for n in order[i + 1:] if isinstance(modules[n], LAYER_TYPES)), None)
        if next_layer in selected:
            quantised.append(name)
        elif next_layer is not None and previous_layer in selected:
            clipped.append(name)
    shared = sorted({n for n in quantised + clipped if order.count(n) > 1})
    if shared:
        raise AdvconfError(
            f"cannot quantise activation module {shared[0]!r}: it runs {order.count(shared[0])} times per forward pass, "
            "and swapping it would quantise every use; give each use its own module or set activation_bits: 32"
        )
    return list(dict.fromkeys(quantised)), list(dict.fromkeys(clipped))


def _check_quantised_inputs(model: nn.Module, example_input: torch.Tensor, layers: list[str], bits: int) -> None:
    """Refuse a quantised layer whose input (on `example_input`) is not on the k-bit grid of [0, 1]:
    its activation is a function call, or something (average pooling, normalisation) runs between the
    activation module and the layer. The first layer to run reads the data and is not checked."""
    n = float(2**bits - 1)
    wrong: list[str] = []

    def check(name: str, x: torch.Tensor) -> None:
        on_grid = bool(((x >= 0) & (x <= 1)).all()) and torch.equal(torch.round(x * n) / n, x)
        if not on_grid and name not in wrong:
            wrong.append(name)

    with _hooked(model, LAYER_TYPES, lambda name, x: check(name, x) if name in layers else None):
        _run_in_eval(model, example_input)
    if wrong:
        raise AdvconfError(
            f"activation_bits={bits}, but quantised layer {wrong[0]!r} does not read {bits}-bit activations: "
            "no nn.ReLU / nn.LeakyReLU module runs right before it (activations written as function calls, or "
            "pooling/normalisation between the activation and the layer, cannot be quantised); exclude it or set activation_bits: 32"
        )


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
    """Swap the selected conv/linear layers of `model` for DoReFa ones and, when `activation_bits` < 32,
    place DoReFa's activations as tensorpack does (`examples/DoReFa-Net/alexnet-dorefa.py`,
    `resnet-dorefa.py`): the ReLU / LeakyReLU that runs on the way into a selected layer becomes clip
    to [0, 1] plus k bits, and the one on the way into a full-precision layer that follows a selected
    layer becomes the clip alone. With 32-bit activations the model's own activations stay. Calling
    it again re-plans from scratch.

    Selection: every conv/linear that runs on `example_input`, minus the first and last to run when
    `keep_first_last`, restricted to `include` patterns and minus `exclude` patterns (fnmatch on
    module names). Refused: an activation module to be swapped that runs more than once per forward
    (torchvision's `BasicBlock.relu`), and a selected layer (other than the first to run) whose
    input would not be k-bit.
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

    result = QuantizedModules(layers=[n for n in layers if n in selected])
    if activation_bits != FULL_PRECISION:
        result.activations, result.clipped_activations = _activation_roles(order, modules, selected)
        reading_activations = [n for n in result.layers if n != layers[0]]
        if reading_activations and not result.activations:
            raise AdvconfError(
                f"activation_bits={activation_bits}, but no nn.ReLU / nn.LeakyReLU module runs on the way into a "
                "quantised layer (activations written as function calls cannot be swapped)"
            )
    for name in result.layers:
        quantize_layer(modules[name], weight_bits, gradient_bits, zeros_are_pruned)
    for name in result.activations:
        swap_activation(modules[name], activation_bits)
    for name in result.clipped_activations:
        swap_activation(modules[name], FULL_PRECISION)
    if activation_bits != FULL_PRECISION:
        try:
            _check_quantised_inputs(model, example_input, [n for n in result.layers if n != layers[0]], activation_bits)
        except AdvconfError:
            for module in model.modules():
                restore_module(module)
            raise
    return result
