"""Shapes, parameter counts and the structure the quantisation callback relies on."""

import pytest
import torch
from torch import nn

from advconf.errors import AdvconfError
from advconf.models import DoReFaResNet18, MadryMNIST, ResNet18, VanillaCNN, WideResNet, check_input_shape
from advconf.models.layers import PerImageStandardization

SMALL_MODELS = {
    "vanilla_mnist": lambda: VanillaCNN([1, 28, 28], nf=8),
    "vanilla_cifar_bn": lambda: VanillaCNN([3, 32, 32], nf=8, batch_norm=True),
    "madry_mnist": MadryMNIST,
    "wrn_tiny": lambda: WideResNet(depth=8, widen_factor=1),
    "resnet18_cifar": lambda: ResNet18(num_classes=10, cifar_stem=True),
    "dorefa_resnet18_64px": lambda: DoReFaResNet18(num_classes=10, input_shape=[3, 64, 64]),
}


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_model_maps_its_declared_input_shape_to_logits(name):
    model = SMALL_MODELS[name]()
    out = model(torch.rand(2, *model.input_shape))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_first_and_last_registered_layers_are_the_first_and_last_applied(name):
    """Quantisation keeps the first/last conv/linear in full precision, found in registration order."""
    model = SMALL_MODELS[name]()
    registered = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    applied = []
    hooks = [m.register_forward_hook(lambda m, i, o: applied.append(m)) for m in registered]
    model(torch.rand(1, *model.input_shape))
    for h in hooks:
        h.remove()
    assert applied[0] is registered[0] and applied[-1] is registered[-1]


# Nonlinearities per forward pass: VanillaCNN 3; MadryMNIST 3; WRN depth 8: 3 units x 2 + final;
# ResNet-18: stem + 8 blocks x 2 (torchvision reuses one ReLU module per block); DoReFa ResNet-18:
# 8 blocks x 2 + final (no activation after its stem).
ACTIVATION_CALLS = {
    "vanilla_mnist": 3, "vanilla_cifar_bn": 3, "madry_mnist": 3, "wrn_tiny": 7, "resnet18_cifar": 17, "dorefa_resnet18_64px": 17,
}


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_activations_are_modules_not_functional_calls(name):
    """Every ReLU applied is an nn.ReLU/nn.LeakyReLU module the quantisation callback can replace."""
    model = SMALL_MODELS[name]()
    activations = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append(m)) for m in activations]
    model(torch.rand(1, *model.input_shape))
    for h in hooks:
        h.remove()
    assert len(calls) == ACTIVATION_CALLS[name]


def test_madry_mnist_has_the_challenge_parameter_count():
    assert sum(p.numel() for p in MadryMNIST().parameters()) == 3_274_634


def test_vanilla_cnn_spatial_sizes_follow_table_2():
    # 28 -> 14 (SAME, stride 2) -> 9 (6x6 VALID) -> 5 (5x5 VALID); 32 -> 16 -> 11 -> 7.
    assert VanillaCNN([1, 28, 28], nf=64).fc.in_features == 128 * 5 * 5
    assert VanillaCNN([3, 32, 32], nf=64).fc.in_features == 128 * 7 * 7
    assert VanillaCNN([1, 28, 28], nf=64).conv2.out_channels == 128


def test_vanilla_cnn_batch_norm_only_on_the_hidden_convolutions():
    model = VanillaCNN(nf=4, batch_norm=True)
    assert [n for n, m in model.named_children() if isinstance(m, nn.BatchNorm2d)] == ["bn2", "bn3"]
    assert model.conv1.bias is not None and model.conv2.bias is None


def test_vanilla_cnn_rejects_images_too_small():
    with pytest.raises(AdvconfError, match="19x19"):
        VanillaCNN([1, 16, 16])


def test_wide_resnet_default_is_madrys_five_units_per_stage_width_ten():
    # Counting parameters of the full model is cheap; running it is not.
    model = WideResNet()
    assert [len(stage) for stage in model.stages] == [5, 5, 5]
    assert [stage[0].conv1.out_channels if isinstance(stage[0].conv1, nn.Conv2d) else stage[0].conv1[1].out_channels
            for stage in model.stages] == [160, 320, 640]
    assert isinstance(model.standardize, PerImageStandardization)
    assert all(m.negative_slope == 0.1 for m in model.modules() if isinstance(m, nn.LeakyReLU))


def test_wide_resnet_rejects_depth_not_of_the_form_6n_plus_2():
    with pytest.raises(AdvconfError, match="6n \\+ 2"):
        WideResNet(depth=28 + 1)


def test_wide_resnet_output_ignores_input_scale():
    """Per-image standardisation first: scaling and shifting an image leaves the logits unchanged."""
    model = WideResNet(depth=8, widen_factor=1).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model(0.5 * x + 0.2), atol=1e-4, rtol=1e-4)


def test_resnet18_stems():
    imagenet, cifar = ResNet18(), ResNet18(num_classes=10, cifar_stem=True)
    assert imagenet.input_shape == (3, 224, 224) and cifar.input_shape == (3, 32, 32)
    assert imagenet.net.conv1.kernel_size == (7, 7) and cifar.net.conv1.kernel_size == (3, 3)
    assert isinstance(cifar.net.maxpool, nn.Identity)
    assert sum(p.numel() for p in imagenet.parameters()) == 11_689_512  # torchvision's resnet18


def test_dorefa_resnet18_has_tensorpacks_layout_at_224_pixels():
    model = DoReFaResNet18()
    sizes = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: sizes.update({name: tuple(o.shape[1:])}))
             for name, m in model.named_children()]
    model.eval()(torch.rand(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert sizes["conv1"] == (64, 112, 112) and sizes["pool1"] == (64, 56, 56) and sizes["blocks"] == (512, 7, 7)
    assert model.conv1.bias is not None and all(c.bias is None for n, c in model.named_modules() if n.startswith("blocks.") and isinstance(c, nn.Conv2d))
    # a 1x1 projection shortcut in the first block of every group (the first group's too, as tensorpack's model)
    assert [i for i, block in enumerate(model.blocks) if block.shortcut is not None] == [0, 2, 4, 6]
    assert all(m.eps == 1e-4 and m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_dorefa_resnet18_rejects_images_too_small():
    DoReFaResNet18(input_shape=[3, 30, 30]).eval()(torch.rand(1, 3, 30, 30))
    with pytest.raises(AdvconfError, match="at least 30x30"):
        DoReFaResNet18(input_shape=[3, 29, 29])


class _Data:
    input_shape = (3, 32, 32)


def test_check_input_shape_names_both_shapes_on_mismatch():
    with pytest.raises(AdvconfError, match=r"MadryMNIST expects inputs of shape \(1, 28, 28\) but _Data yields \(3, 32, 32\)"):
        check_input_shape(MadryMNIST(), _Data())


def test_check_input_shape_accepts_matching_and_undeclared_shapes():
    check_input_shape(VanillaCNN([3, 32, 32], nf=4), _Data())
    check_input_shape(nn.Linear(2, 2), _Data())
