"""Each architecture quantises as the paper intends: first and last layers stay full precision."""

import torch

from advconf.models import LogisticRegression, MadryMNIST, ResNet18, VanillaCNN, WideResNet
from advconf.quant import quantize_model


def quantize(model, **kwargs):
    quantized = quantize_model(model, torch.rand(2, *model.input_shape), weight_bits=1, activation_bits=2, **kwargs)
    assert model(torch.rand(2, *model.input_shape)).isfinite().all()
    return quantized


def test_vanilla_cnn_quantises_the_hidden_convolutions_and_their_relus():
    quantized = quantize(VanillaCNN(nf=4, batch_norm=True))
    assert quantized.layers == ["conv2", "conv3"] and quantized.activations == ["relu2", "relu3"]


def test_madry_mnist_keeps_conv1_and_the_readout_full_precision():
    assert quantize(MadryMNIST()).layers == ["conv2", "fc1"]


def test_wide_resnet_keeps_stem_and_readout_full_precision():
    model = WideResNet(depth=8, widen_factor=1)
    layers = quantize(model).layers
    assert "stem" not in layers and "fc" not in layers and len(layers) == 6  # 3 units x 2 convs


def test_resnet18_keeps_stem_and_readout_full_precision():
    layers = quantize(ResNet18(num_classes=10, cifar_stem=True)).layers
    assert "net.conv1" not in layers and "net.fc" not in layers and len(layers) == 19  # 16 convs + 3 shortcuts


def test_logistic_regression_single_layer_is_quantised_without_keep_first_last():
    model = LogisticRegression([1, 4, 4])
    assert quantize_model(model, torch.rand(2, 1, 4, 4), weight_bits=1, keep_first_last=False).layers == ["linear"]
