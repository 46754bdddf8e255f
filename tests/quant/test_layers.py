"""Swapping quantised layers into models: selection, state_dict names, 32-bit identity, attacks, pruning."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune
from torchvision.models import resnet18

from advconf.errors import AdvconfError
from advconf.quant import (
    QuantizedActivation,
    QuantizedLayer,
    attack_gradients,
    execution_order,
    quantize_model,
    quantize_weight,
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
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
        self.stem = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


CASES = {
    "mlp": (mlp, (2,), "0", "6"),
    "cnn": (cnn, (1, 10, 10), "0", "8"),
    "head_first": (HeadFirst, (3,), "stem", "head"),
    "resnet18": (lambda: resnet18(num_classes=10), (3, 32, 32), "conv1", "fc"),
}


def example(shape: tuple[int, ...], n: int = 4) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(1))


def layer_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("case", CASES)
def test_first_and_last_layers_to_run_stay_full_precision(case):
    make, shape, first, last = CASES[case]
    model = make()
    quantized = quantize_model(model, example(shape), weight_bits=1, activation_bits=2, gradient_bits=6)
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
    assert order == ["stem", "body.0", "body.1", "body.2", "body.3", "head"]


@pytest.mark.parametrize("case", CASES)
def test_state_dict_keys_do_not_change(case):
    make, shape, *_ = CASES[case]
    model = make()
    before = list(model.state_dict())
    quantize_model(model, example(shape), weight_bits=2, activation_bits=2, gradient_bits=4)
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


def test_quantised_linear_uses_the_quantised_weight():
    model = mlp()
    quantize_model(model, example((2,)), weight_bits=1)
    layer = model[3]
    x = torch.randn(5, 16)
    expected = torch.nn.functional.linear(x, quantize_weight(layer.weight, 1), layer.bias)
    assert torch.equal(layer(x), expected)


def test_only_activations_after_a_quantised_layer_are_replaced():
    model = cnn()
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=1, activation_bits=2)
    assert quantized.activations == ["4", "6"]  # "1" follows the full-precision first conv
    assert type(model[1]) is nn.ReLU
    assert isinstance(model[4], QuantizedActivation) and isinstance(model[6], QuantizedActivation)
    torch.testing.assert_close(model[4](torch.tensor([-1.0, 0.4, 2.0])), torch.tensor([0.0, 1 / 3, 1.0]))


def test_activations_stay_when_activation_bits_are_32():
    model = cnn()
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=1)
    assert quantized.activations == [] and type(model[4]) is nn.LeakyReLU


def test_quantising_again_replans_from_the_original_modules():
    model = cnn()
    quantize_model(model, example((1, 10, 10)), weight_bits=1, activation_bits=2)
    quantized = quantize_model(model, example((1, 10, 10)), weight_bits=4, keep_first_last=False)
    assert quantized.layers == ["0", "2", "5", "8"] and quantized.activations == []
    assert model[2].weight_bits == 4 and type(model[4]) is nn.LeakyReLU


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
