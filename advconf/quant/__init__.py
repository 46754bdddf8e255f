"""DoReFa-Net quantisation: autograd functions, quantised layers, and swapping them into a model."""

from advconf.quant.functions import (
    FULL_PRECISION,
    check_bits,
    quantize_activation,
    quantize_gradient,
    quantize_k,
    quantize_weight,
)
from advconf.quant.layers import (
    ClippedActivation,
    QuantizedActivation,
    QuantizedConv2d,
    QuantizedLayer,
    QuantizedLinear,
    attack_gradients,
)
from advconf.quant.model import QuantizedModules, execution_order, quantize_model

__all__ = [
    "ClippedActivation",
    "FULL_PRECISION",
    "QuantizedActivation",
    "QuantizedConv2d",
    "QuantizedLayer",
    "QuantizedLinear",
    "QuantizedModules",
    "attack_gradients",
    "check_bits",
    "execution_order",
    "quantize_activation",
    "quantize_gradient",
    "quantize_k",
    "quantize_model",
    "quantize_weight",
]
