"""The models of Madry et al.'s MNIST and CIFAR-10 challenges (PGD adversarial training)."""

from collections import OrderedDict

import torch
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import PerImageStandardization, SamePad2d


class MadryMNIST(nn.Sequential):
    """conv5x5-32 SAME -> ReLU -> maxpool2 -> conv5x5-64 SAME -> ReLU -> maxpool2 -> FC 3136->1024
    -> ReLU -> FC. Inputs in [0, 1], no standardisation (as in the challenge)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 32, 5, padding=2)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(32, 64, 5, padding=2)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(7 * 7 * 64, 1024)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(1024, num_classes)),
        ]))
        self.input_shape = (1, 28, 28)


def _conv3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """3x3 conv with TF SAME padding: at stride 2 TF pads only bottom/right (32 -> 16 px)."""
    if stride == 1:
        return nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    return nn.Sequential(SamePad2d(3, stride), nn.Conv2d(c_in, c_out, 3, stride=stride, bias=False))


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # TF's defaults in the challenge code: decay 0.9, epsilon 1e-3.
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)


class PreActUnit(nn.Module):
    """Pre-activation residual unit of the challenge's ResNet (TF model zoo style).

    The shortcut has no convolution: it average-pools to the new stride and zero-pads channels.
    The first unit of the network shares its BN/ReLU with the shortcut (`activate_before_residual`).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, activate_before_residual: bool) -> None:
        super().__init__()
        self.activate_before_residual = activate_before_residual
        self.bn1 = _batch_norm(c_in)
        self.relu1 = nn.LeakyReLU(0.1)
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn2 = _batch_norm(c_out)
        self.relu2 = nn.LeakyReLU(0.1)
        self.conv2 = _conv3x3(c_out, c_out, 1)
        self.shortcut = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.extra_channels = c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn1(x))
        shortcut = h if self.activate_before_residual else x
        h = self.conv2(self.relu2(self.bn2(self.conv1(h))))
        shortcut = self.shortcut(shortcut)
        if self.extra_channels:
            half = self.extra_channels // 2
            shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, half, self.extra_channels - half))
        return h + shortcut


class WideResNet(nn.Module):
    """Madry's CIFAR-10 WideResNet: per-image standardisation, conv3x3-16 stem, three stages of
    pre-activation units (widths 16k/32k/64k, strides 1/2/2), leaky ReLU 0.1, global average pool.

    The challenge model has 5 units per stage, i.e. depth 32 by the (depth - 2) / 6 rule (the paper
    calls it W32-10; it is often quoted as WRN-28-10). Tests build tiny ones with depth=8.
    """

    def __init__(self, depth: int = 32, widen_factor: int = 10, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise AdvconfError(f"WideResNet depth must be 6n + 2 with n >= 1 (e.g. 8, 26, 32), got {depth}")
        units = (depth - 2) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.standardize = PerImageStandardization()
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        stages = []
        for stage, stride in enumerate([1, 2, 2]):
            blocks = [PreActUnit(widths[stage], widths[stage + 1], stride, activate_before_residual=stage == 0)]
            blocks += [PreActUnit(widths[stage + 1], widths[stage + 1], 1, False) for _ in range(units - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = _batch_norm(widths[3])
        self.relu = nn.LeakyReLU(0.1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[3], num_classes)
        self.input_shape = (3, 32, 32)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # TF code: normal(0, sqrt(2 / (k * k * c_out)))
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(self.standardize(x)))
        return self.fc(self.flatten(self.pool(self.relu(self.bn(x)))))
