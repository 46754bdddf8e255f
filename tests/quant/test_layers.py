"""Swapping quantised layers into models: selection, activation placement, state_dict names, 32-bit
identity, attacks, pruning."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune
from torchvision.models import resnet18

from advconf.errors import AdvconfError
from advconf.models import DoReFaResNet18
from advconf.quant import (
    ClippedActivation,
    QuantizedActivation,
    QuantizedLayer,
    attack_gradients,
    execution_order,
    quantize_model,
)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(),
        nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(),
        nn.Linear(16, 2),
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(),
        nn.Conv2d(4, 8, 3), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
        nn.Conv2d(8, 8, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 3),
    )


class HeadFirst(nn.Module):
    """Registers its readout before its body: registration order is not execution order."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 2)
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
        self.stem = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


# (model, input shape, first layer, last layer, activation bits it takes: torchvision's ResNet-18
# shares one ReLU module per block, so it only takes quantised weights and gradients).
CASES = {
    "mlp": (mlp, (2,), "0", "6", 2),
    "cnn": (cnn, (1, 10, 10), "0", "8", 2),
    "head_first": (HeadFirst, (3,), "stem", "head", 2),
    "resnet18": (lambda: resnet18(num_classes=10), (3, 32, 32), "conv1", "fc", 32),
    "dorefa_resnet18": (lambda: DoReFaResNet18(num_classes=10, input_shape=[3, 32, 32]), (3, 32, 32), "conv1", "fc", 2),
}


def example(shape: tuple[int, ...], n: int = 4) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(1))


def layer_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("case", CASES)
def test_first_and_last_layers_to_run_stay_full_precision(case):
    make, shape, first, last, activation_bits = CASES[case]
    model = make()
    quantized = quantize_model(model, example(shape), weight_bits=1, activation_bits=activation_bits, gradient_bits=6)
    modules = dict(model.named_modules())
    assert not isinstance(modules[first], QuantizedLayer)
    assert not isinstance(modules[last], QuantizedLayer)
    assert set(quantized.layers) == set(layer_names(model)) - {first, last}
    assert all(isinstance(modules[n], QuantizedLayer) for n in quantized.layers)


def test_resnet_downsample_conv_is_quantised_although_registered_last():
    model = resnet18(num_classes=10)
    quantized = quantize_model(model, example((3, 32, 32), 2), weight_bits=1)
    assert "layer4.1.conv2" in quantized.layers and "layer4.0.downsample.0" in quantized.layers
    assert "fc" not in quantized.layers


def test_execution_order_follows_forward_not_registration():
    order = execution_order(HeadFirst(), example((3,)))
    assert order == ["stem", "body.0", "body.1", "body.2", "body.3", "body.4", "head"]


@pytest.mark.parametrize("case", CASES)
def test_state_dict_keys_do_not_change(case):
    make, shape, *_, activation_bits = CASES[case]
    model = make()
    before = list(model.state_dict())
    quantize_model(model, example(shape), weight_bits=2, activation_bits=activation_bits, gradient_bits=4)
    assert list(model.state_dict()) == before
    model.load_state_dict(make().state_dict())  # an unquantised checkpoint loads as is


@pytest.mark.parametrize("case", CASES)
def test_32_bits_gives_bit_identical_outputs_and_gradients(case):
    make, shape, *_ = CASES[case]
    torch.manual_seed(0)
    reference = make()
    model = copy.deepcopy(reference)
    quantized = quantize_model(model, example(shape), keep_first_last=False)
    assert quantized.layers  # the layers were swapped, and still compute exactly the same
    x = example(shape, 5)
    outputs = []
    for m in (reference, model):
        m.train()
        xi = x.clone().requires_grad_()
        out = m(xi)
        out.square().sum().backward()
        outputs.append((out.detach(), xi.grad, [p.grad for p in m.parameters()]))
    (out_a, gx_a, gp_a), (out_b, gx_b, gp_b) = outputs
    assert torch.equal(out_a, out_b) and torch.equal(gx_a, gx_b)
    assert all(torch.equal(a, b) for a, b in zip(gp_a, gp_b))


def test_quantised_linear_computes_with_sign_times_mean_abs_weights():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))  # mean|W| = 1.5
        model[1].bias.copy_(torch.tensor([0.5, -0.5]))
    quantize_model(model, example((2,)), weight_bits=1)
    # [[1.5, -1.5], [0, 1.5]] @ [1, 2] + [0.5, -0.5]
    assert torch.equal(model[1](torch.tensor([[1.0, 2.0]])), torch.tensor([[-1.0, 2.5]]))


def test_activations_into_quantised_layers_are_quantised_and_into_the_readout_clipped():
    """tensorpack's `activate = fa(nonlin(x))` before each quantised layer, `nonlin` alone before the
    full-precision readout; the ReLU after the full-precision first conv feeds a quantised one."""
    model = cnn()  # 0 conv (FP), 1 ReLU, 2 conv, 3 BN, 4 LeakyReLU, 5 conv, 6 ReLU, 7 flatten, 8 linear (FP)
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=1, activation_bits=2)
    assert quantized.layers == ["2", "5"]
    assert quantized.activations == ["1", "4"] and quantized.clipped_activations == ["6"]
    assert isinstance(model[1], QuantizedActivation) and isinstance(model[4], QuantizedActivation)
    assert type(model[6]) is ClippedActivation
    x = torch.tensor([-1.0, 0.1, 0.4, 0.9, 2.0])
    assert torch.equal(model[4](x), torch.tensor([0.0, 0.0, 1 / 3, 1.0, 1.0]))
    assert torch.equal(model[6](x), torch.tensor([0.0, 0.1, 0.4, 0.9, 1.0]))


def test_activations_stay_when_activation_bits_are_32():
    model = cnn()
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=1)
    assert quantized.activations == quantized.clipped_activations == []
    assert type(model[1]) is nn.ReLU and type(model[4]) is nn.LeakyReLU and type(model[6]) is nn.ReLU


def test_activation_between_two_full_precision_layers_stays():
    model = mlp()  # 0, 3 and 6 linear
    quantized = quantize_model(model, example((2,)), weight_bits=1, activation_bits=2, include=["6"], keep_first_last=False)
    assert quantized.layers == ["6"] and quantized.activations == ["5"] and quantized.clipped_activations == []
    assert type(model[2]) is nn.ReLU


def test_quantising_again_replans_from_the_original_modules():
    model = cnn()
    quantize_model(model, example((1, 10, 10)), weight_bits=1, activation_bits=2)
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=4, keep_first_last=False)
    assert quantized.layers == ["0", "2", "5", "8"] and quantized.activations == []
    assert model[2].weight_bits == 4 and type(model[4]) is nn.LeakyReLU and type(model[6]) is nn.ReLU


def test_include_and_exclude_patterns_select_layers():
    model = resnet18(num_classes=10)
    quantized = quantize_model(model, example((3, 32, 32), 2), weight_bits=1, include=["layer2.*"], exclude=["*.downsample.*"])
    assert quantized.layers == ["layer2.0.conv1", "layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2"]


def test_pattern_that_matches_no_layer_is_an_error():
    with pytest.raises(AdvconfError, match=r"exclude patterns match no conv/linear layer: \['lyaer1'\]"):
        quantize_model(mlp(), example((2,)), weight_bits=1, exclude=["lyaer1"])


def test_single_layer_model_with_keep_first_last_is_an_error_not_a_silent_no_op():
    with pytest.raises(AdvconfError, match="selects no layer.*keep_first_last"):
        quantize_model(nn.Sequential(nn.Flatten(), nn.Linear(4, 1)), example((4,)), weight_bits=1)
    assert quantize_model(nn.Sequential(nn.Linear(4, 1)), example((4,)), weight_bits=1, keep_first_last=False).layers == ["0"]


def test_functional_activations_cannot_take_activation_bits():
    class FunctionalReLU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(2, 4), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(torch.relu(self.b(torch.relu(self.a(x)))))

    with pytest.raises(AdvconfError, match="no nn.ReLU"):
        quantize_model(FunctionalReLU(), example((2,)), weight_bits=1, activation_bits=2)


def test_a_quantised_layer_whose_input_is_not_k_bit_is_refused_and_the_model_left_unquantised():
    """Average pooling after the activation turns k-bit values into others: the conv after it would
    not read k-bit inputs, so the plan is refused rather than silently different from DoReFa."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)
    )
    with pytest.raises(AdvconfError, match="quantised layer '3' does not read 2-bit activations"):
        quantize_model(model, example((1, 8, 8)), weight_bits=1, activation_bits=2)
    assert not any(isinstance(m, (QuantizedLayer, ClippedActivation)) for m in model.modules())
    assert quantize_model(model, example((1, 8, 8)), weight_bits=1).layers == ["3"]  # weights alone are fine


def test_an_activation_module_used_twice_is_refused_naming_it():
    """torchvision's BasicBlock calls one ReLU after bn1 and after the residual addition: swapping it
    would quantise the residual stream too."""
    with pytest.raises(AdvconfError, match=r"cannot quantise activation module 'layer1\.0\.relu': it runs 2 times"):
        quantize_model(resnet18(num_classes=10), example((3, 32, 32), 2), weight_bits=1, activation_bits=2)
    assert quantize_model(resnet18(num_classes=10), example((3, 32, 32), 2), weight_bits=1).layers  # weights only: fine


def _input_gradient(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    model(x).sum().backward()
    return x.grad


def test_attack_gradients_switches_gradient_quantisation_off_and_restores_it():
    torch.manual_seed(0)
    model = cnn()
    reference = copy.deepcopy(model)
    quantize_model(model, example((1, 10, 10)), weight_bits=1, activation_bits=2, gradient_bits=2)
    quantize_model(reference, example((1, 10, 10)), weight_bits=1, activation_bits=2, gradient_bits=32)
    x = example((1, 10, 10), 3)
    with attack_gradients(model):
        assert not any(layer.quantize_gradients for layer in model.modules() if isinstance(layer, QuantizedLayer))
        assert torch.equal(_input_gradient(model, x), _input_gradient(reference, x))
    assert all(layer.quantize_gradients for layer in model.modules() if isinstance(layer, QuantizedLayer))
    assert not torch.equal(_input_gradient(model, x), _input_gradient(reference, x))


def test_attack_gradients_restores_after_an_exception():
    model = cnn()
    quantize_model(model, example((1, 10, 10)), gradient_bits=2)
    with pytest.raises(RuntimeError), attack_gradients(model):
        raise RuntimeError
    assert model[2].quantize_gradients


@pytest.mark.parametrize("bits", [1, 2])
def test_pruned_weights_stay_zero_after_pruning_is_made_permanent(bits):
    model = mlp()
    quantize_model(model, example((2,)), weight_bits=bits, zeros_are_pruned=True)
    layer = model[3]
    prune.l1_unstructured(layer, "weight", amount=0.5)
    assert set(model.state_dict()) >= {"3.weight_orig", "3.weight_mask"}
    x = torch.randn(7, 16)
    masked = layer(x)
    assert (layer.quantized_weight()[layer.weight_mask == 0] == 0).all()
    prune.remove(layer, "weight")
    assert set(model.state_dict()) == set(mlp().state_dict())
    assert torch.equal(layer(x), masked)
