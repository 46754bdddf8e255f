"""Each architecture quantises as DoReFa-Net's reference code does (tensorpack `examples/DoReFa-Net/`:
`alexnet-dorefa.py`, `svhn-digit-dorefa.py`, `resnet-dorefa.py`): first and last layers full precision,
`activate = fa(nonlin(x))` on the way into every quantised layer, `nonlin` alone into the readout.

The golden tests compare each quantised model with a forward pass written out below in tensorpack's
order, from torch.nn.functional primitives and the DoReFa formulas (not advconf.quant).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advconf.errors import AdvconfError
from advconf.models import MLP, DoReFaResNet18, LogisticRegression, MadryMNIST, ResNet18, VanillaCNN, WideResNet
from advconf.models.dorefa_resnet import PreActBlock
from advconf.quant import QuantizedLayer, quantize_model

A = 2  # activation bits of the golden tests
N = 2**A - 1


# --- DoReFa written out (tensorpack dorefa.py), independent of advconf.quant ------------------------


def fw(w: torch.Tensor, bits: int) -> torch.Tensor:
    if bits == 1:
        return torch.sign(w) * w.abs().mean()
    n = 2**bits - 1
    x = torch.tanh(w)
    x = x / x.abs().max() * 0.5 + 0.5
    return 2 * (torch.round(x * n) / n) - 1


def nonlin(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 1.0)


def activate(x: torch.Tensor) -> torch.Tensor:
    return torch.round(nonlin(x) * N) / N


def bn(x: torch.Tensor, layer: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0.0, layer.eps)


# --- helpers ------------------------------------------------------------------------------------------


def randomise_batch_norm(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters, so eval-mode batch norm is not the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=generator) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                m.bias.copy_(torch.rand(c, generator=generator) * 0.4 - 0.1)


def quantized(model: nn.Module, weight_bits: int, shape: tuple[int, ...] | None = None, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """`model` with random batch-norm statistics, quantised at (weight_bits, A, 6), in eval mode, and an input."""
    generator = torch.Generator().manual_seed(seed)
    randomise_batch_norm(model, generator)
    x = torch.rand(3, *(shape or model.input_shape), generator=generator)
    quantize_model(model, x[:2], weight_bits=weight_bits, activation_bits=A, gradient_bits=6)
    return model.eval(), x


def layer_inputs(model: nn.Module, x: torch.Tensor, types: tuple[type, ...]) -> dict[str, torch.Tensor]:
    """The input of every module of `types` on one forward pass of `x`."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, args, name=name: seen.setdefault(name, args[0].detach()))
        for name, m in model.named_modules()
        if isinstance(m, types)
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def assert_quantised_layers_read_k_bit_and_readout_does_not(model: nn.Module, x: torch.Tensor, readout: str) -> None:
    inputs = layer_inputs(model, x, (nn.Conv2d, nn.Linear))
    layers = [n for n, m in model.named_modules() if isinstance(m, QuantizedLayer)]
    assert layers
    for name in layers:
        assert inputs[name].unique().numel() <= 2**A, name
        assert inputs[name].min() >= 0 and inputs[name].max() <= 1, name
    # The full-precision readout reads clipped, unquantised activations.
    assert inputs[readout].unique().numel() > 2**A
    assert inputs[readout].min() >= 0 and inputs[readout].max() <= 1


def assert_same(model: nn.Module, x: torch.Tensor, by_hand: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(x)
    assert (out - by_hand).abs().max() <= 1e-5


# --- placement ----------------------------------------------------------------------------------------


def test_vanilla_cnn_quantises_the_inputs_of_conv2_and_conv3_and_clips_the_readouts_input():
    model = VanillaCNN(nf=4, batch_norm=True)
    q = quantize_model(model, torch.rand(2, *model.input_shape), weight_bits=1, activation_bits=2)
    assert q.layers == ["conv2", "conv3"]
    assert q.activations == ["relu1", "relu2"] and q.clipped_activations == ["relu3"]


def test_madry_mnist_keeps_conv1_and_the_readout_full_precision():
    q = quantize_model(MadryMNIST(), torch.rand(2, 1, 28, 28), weight_bits=1, activation_bits=2)
    assert q.layers == ["conv2", "fc1"] and q.activations == ["relu1", "relu2"] and q.clipped_activations == ["relu3"]


def test_wide_resnet_keeps_stem_and_readout_full_precision():
    model = WideResNet(depth=8, widen_factor=1)
    q = quantize_model(model, torch.rand(2, 3, 32, 32), weight_bits=1, activation_bits=2)
    assert "stem" not in q.layers and "fc" not in q.layers and len(q.layers) == 6  # 3 units x 2 convs
    assert q.clipped_activations == ["relu"]


def test_torchvision_resnet18_takes_quantised_weights_but_refuses_activation_bits():
    model = ResNet18(num_classes=10, cifar_stem=True)
    layers = quantize_model(model, torch.rand(2, 3, 32, 32), weight_bits=1).layers
    assert "net.conv1" not in layers and "net.fc" not in layers and len(layers) == 19  # 16 convs + 3 shortcuts
    with pytest.raises(AdvconfError, match="'net.layer1.0.relu': it runs 2 times per forward pass"):
        quantize_model(model, torch.rand(2, 3, 32, 32), weight_bits=1, activation_bits=2)


def test_logistic_regression_single_layer_is_quantised_without_keep_first_last():
    model = LogisticRegression([1, 4, 4])
    assert quantize_model(model, torch.rand(2, 1, 4, 4), weight_bits=1, keep_first_last=False).layers == ["linear"]


# --- golden tests: hooks and a forward written out in tensorpack's order ------------------------------


def test_vanilla_cnn_w1a2_matches_tensorpacks_order():
    model, x = quantized(VanillaCNN(nf=4, batch_norm=True), weight_bits=1)
    assert_quantised_layers_read_k_bit_and_readout_does_not(model, x, "fc")
    h = F.conv2d(F.pad(x, (3, 3, 3, 3)), model.conv1.weight, model.conv1.bias, stride=2)  # 28 px: SAME pads 3 each side
    h = activate(h)
    h = activate(bn(F.conv2d(h, fw(model.conv2.weight, 1)), model.bn2))
    h = nonlin(bn(F.conv2d(h, fw(model.conv3.weight, 1)), model.bn3))
    assert_same(model, x, F.linear(h.flatten(1), model.fc.weight, model.fc.bias))


def test_mlp_w1a2_matches_tensorpacks_order():
    model, x = quantized(MLP(in_features=2, num_outputs=2, depth=2, width=16), weight_bits=1)
    assert_quantised_layers_read_k_bit_and_readout_does_not(model, x, "layers.6")
    first, bn1, _, hidden, bn2, _, readout = model.layers
    h = activate(bn(F.linear(x, first.weight, first.bias), bn1))
    h = nonlin(bn(F.linear(h, fw(hidden.weight, 1), hidden.bias), bn2))
    assert_same(model, x, F.linear(h, readout.weight, readout.bias))


def test_madry_mnist_w2a2_matches_tensorpacks_order():
    """tensorpack's svhn-digit-dorefa.py pools before `activate`; advconf's MadryMNIST activates first.
    Clip and rounding are monotone, so the two orders give the same values."""
    model, x = quantized(MadryMNIST(), weight_bits=2)
    assert_quantised_layers_read_k_bit_and_readout_does_not(model, x, "fc2")
    h = activate(F.max_pool2d(F.conv2d(x, model.conv1.weight, model.conv1.bias, padding=2), 2))
    h = activate(F.max_pool2d(F.conv2d(h, fw(model.conv2.weight, 2), model.conv2.bias, padding=2), 2))
    h = nonlin(F.linear(h.flatten(1), fw(model.fc1.weight, 2), model.fc1.bias))
    assert_same(model, x, F.linear(h, model.fc2.weight, model.fc2.bias))


def dorefa_block_by_hand(x: torch.Tensor, block: PreActBlock, stride: int) -> torch.Tensor:
    """tensorpack resnet-dorefa.py `resblock`."""
    if block.shortcut is not None:
        if stride != 1:
            x = F.avg_pool2d(x, stride, stride)
        x = activate(bn(x, block.bn))
        shortcut = F.conv2d(x, fw(block.shortcut.weight, 2))
    else:
        shortcut = x
        x = activate(bn(x, block.bn))
    stem = activate(bn(F.conv2d(x, fw(block.conv_a.weight, 2), padding=1), block.bn_a))
    return shortcut + F.conv2d(stem, fw(block.conv_b.weight, 2), padding=1)


def test_dorefa_resnet18_w2a2_matches_tensorpacks_order():
    model, x = quantized(DoReFaResNet18(num_classes=10, input_shape=[3, 32, 32]), weight_bits=2)
    assert_quantised_layers_read_k_bit_and_readout_does_not(model, x, "fc")
    # The residual stream (each block's input after the first) is neither clipped nor quantised.
    for name, stream in layer_inputs(model, x, (PreActBlock,)).items():
        if name != "blocks.0":
            assert stream.unique().numel() > 2**A and stream.min() < 0, name

    h = F.conv2d(F.pad(x, (3, 2, 3, 2)), model.conv1.weight, model.conv1.bias, stride=2)
    h = F.max_pool2d(F.pad(h, (1, 1, 1, 1), mode="replicate"), 3, 2)  # TF SYMMETRIC pad of 1 = edge copy
    strides = [1, 1, 2, 1, 2, 1, 2, 1]
    for block, stride in zip(model.blocks, strides):
        h = dorefa_block_by_hand(h, block, stride)
    h = nonlin(bn(h, model.bn)).mean(dim=(2, 3))
    assert_same(model, x, F.linear(h, model.fc.weight, model.fc.bias))
