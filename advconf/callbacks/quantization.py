"""`Quantization`: applies DoReFa quantisation (advconf.quant) to the Classifier's model from YAML."""

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelPruning
from torch import nn

from advconf.errors import AdvconfError
from advconf.quant import FULL_PRECISION, check_bits, quantize_model


def example_input(trainer: Trainer, pl_module: LightningModule, model: nn.Module) -> torch.Tensor:
    """A random batch of two inputs in [0, 1], for tracing which layers run first and last.

    The shape comes from the model's `input_shape`, else the data module's, else the module's
    `example_input_array`. A private generator keeps the global RNG (and so a seeded run) untouched.
    """
    shape = getattr(model, "input_shape", None) or getattr(trainer.datamodule, "input_shape", None)
    if shape is None:
        if pl_module.example_input_array is None:
            raise AdvconfError(
                "Quantization needs the input shape to find the first and last layers: "
                "give the model or the data module an `input_shape` attribute"
            )
        return pl_module.example_input_array
    param = next(model.parameters())
    generator = torch.Generator().manual_seed(0)
    return torch.rand(2, *shape, generator=generator).to(device=param.device, dtype=param.dtype)


class Quantization(Callback):
    """DoReFa-Net W/A/G quantisation (Zhou et al. 2016), placed as in tensorpack's
    `examples/DoReFa-Net` (see `advconf.quant.quantize_model` and docs/quantization.md).

    Layers are swapped in `setup()`, before the optimizer is built and before a checkpoint is
    restored; parameter names do not change. `pl_module.settings["quantization"]` records the bits and
    the swapped module names, so a checkpoint only loads into an identically quantised model.
    Attacks run inside `advconf.quant.attack_gradients`, i.e. with 32-bit gradients.

    When a `ModelPruning` callback is configured, a zero weight of a quantised layer stays zero, so
    pruned weights remain pruned after the masks are made permanent.

    Args:
        weight_bits: 1..8, or 32 for full precision.
        activation_bits: 1..8: the ReLU / LeakyReLU on the way into each quantised layer becomes clip to
            [0, 1] plus k bits, and the one on the way into a full-precision layer that follows a
            quantised one becomes the clip alone. 32: the model keeps its own activations.
        gradient_bits: 1..8, or 32 (no gradient quantisation).
        keep_first_last: keep the first and last conv/linear layers *to run* at full precision.
        include: fnmatch patterns on module names of the model (e.g. ``layers.*``); None = all layers.
        exclude: fnmatch patterns of layers to leave at full precision.
    """

    def __init__(
        self,
        weight_bits: int = FULL_PRECISION,
        activation_bits: int = FULL_PRECISION,
        gradient_bits: int = FULL_PRECISION,
        keep_first_last: bool = True,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> None:
        for name, bits in (("weight_bits", weight_bits), ("activation_bits", activation_bits), ("gradient_bits", gradient_bits)):
            try:
                check_bits(bits)
            except ValueError as error:
                raise AdvconfError(f"Quantization {name}: {error}") from None
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        self.gradient_bits = gradient_bits
        self.keep_first_last = keep_first_last
        self.include = include
        self.exclude = exclude

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        model = getattr(pl_module, "model", pl_module)  # module names are the architecture's own
        zeros_are_pruned = any(isinstance(cb, ModelPruning) for cb in trainer.callbacks)
        quantized = quantize_model(
            model,
            example_input(trainer, pl_module, model),
            weight_bits=self.weight_bits,
            activation_bits=self.activation_bits,
            gradient_bits=self.gradient_bits,
            keep_first_last=self.keep_first_last,
            include=self.include,
            exclude=self.exclude,
            zeros_are_pruned=zeros_are_pruned,
        )
        settings: dict[str, Any] = {
            "weight_bits": self.weight_bits,
            "activation_bits": self.activation_bits,
            "gradient_bits": self.gradient_bits,
            "gradient_bits_during_attacks": FULL_PRECISION,
            "keep_first_last": self.keep_first_last,
            "layers": quantized.layers,
            "activations": quantized.activations,
            "clipped_activations": quantized.clipped_activations,
            "pruned_weights_stay_zero": zeros_are_pruned,
        }
        pl_module.settings["quantization"] = settings
