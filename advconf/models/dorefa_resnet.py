"""The pre-activation ResNet-18 of DoReFa-Net (tensorpack `examples/DoReFa-Net/resnet-dorefa.py`),
the network of the paper's Table 3 grid. torchvision's post-activation `ResNet18` stays for
full-precision use."""

import torch
from torch import nn

from advconf.errors import AdvconfError

STAGES = [(64, 1), (128, 2), (256, 2), (512, 2)]  # (channels, stride) of tensorpack's conv2..conv5 groups


def _conv(c_in: int, c_out: int, kernel_size: int, bias: bool = False, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=bias)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")  # tensorpack's variance scaling 2.0
    return conv


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-4, momentum=0.1)  # tensorpack: decay 0.9, epsilon 1e-4


def _final_size(size: int) -> int:
    """Spatial size after the stem conv (padded by 5), the max pool (padded by 2) and three stride-2 pools."""
    size = (size + 5 - 7) // 2 + 1
    size = (size + 2 - 3) // 2 + 1
    return size // 8


class PreActBlock(nn.Module):
    """tensorpack's `resblock`. With a projection: average-pool to the stride, BN → activation, and
    the 1×1 shortcut conv and the 3×3 stem both read that activation. Without: the shortcut is the
    residual stream itself, unclipped. The stem is conv 3×3 → BN → activation → conv 3×3, stride 1
    (the pooling does the downsampling).

    Modules run in this order: pool, bn, relu, shortcut, conv_a, bn_a, relu_a, conv_b. Each ReLU runs
    once, on the way into quantisable convolutions, so DoReFa quantisation swaps it for `activate`.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, projection: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.bn = _batch_norm(c_in)
        self.relu = nn.ReLU()
        self.shortcut = _conv(c_in, c_out, 1) if projection else None
        self.conv_a = _conv(c_in, c_out, 3, padding=1)
        self.bn_a = _batch_norm(c_out)
        self.relu_a = nn.ReLU()
        self.conv_b = _conv(c_out, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        h = self.relu(self.bn(x))
        shortcut = x if self.shortcut is None else self.shortcut(h)
        return shortcut + self.conv_b(self.relu_a(self.bn_a(self.conv_a(h))))


class DoReFaResNet18(nn.Module):
    """DoReFa-Net's ResNet-18, layer for layer as tensorpack's `resnet-dorefa.py`.

    Stem: pad 3 top/left and 2 bottom/right, conv 7×7/2 with bias (no BN or activation after it),
    replicate-pad 1 (TensorFlow's SYMMETRIC pad of one pixel), max pool 3×3/2. Then four groups of two
    `PreActBlock`s of 64, 128, 256, 512 channels, strides 1, 2, 2, 2 (the first block of each group has
    a 1×1 projection shortcut; in the first group too, as tensorpack's model does although the channel
    count does not change). End: BN → activation → global average pool → fc. With `Quantization`
    (keep_first_last) every convolution but the stem has DoReFa weights, and the ReLUs become
    tensorpack's `activate` (into a quantised conv) or `nonlin` (the last one, into the full-precision
    fc); at 32-bit activations they stay ReLUs, as tensorpack's `nonlin` for 32 bits in
    `alexnet-dorefa.py`.

    Differences from tensorpack, on purpose: inputs are [0, 1] RGB pixels (tensorpack: BGR pixels / 256,
    the same scale up to 255/256, which the first batch norm absorbs), and the global average pool is
    not multiplied by 49 (a fixed scale on the fc weights, which tensorpack calls a bug of its model).
    """

    def __init__(self, num_classes: int = 1000, input_shape: list[int] = [3, 224, 224]) -> None:
        super().__init__()
        channels, height, width = input_shape
        if min(_final_size(height), _final_size(width)) < 1:
            raise AdvconfError(f"DoReFaResNet18 needs images of at least 30x30 pixels, got input_shape {input_shape}")
        self.input_shape = tuple(input_shape)
        self.pad1 = nn.ZeroPad2d((3, 2, 3, 2))
        self.conv1 = _conv(channels, 64, 7, bias=True, stride=2)
        self.pool1 = nn.Sequential(nn.ReplicationPad2d(1), nn.MaxPool2d(3, 2))
        blocks = []
        c_in = 64
        for c_out, stride in STAGES:
            blocks += [PreActBlock(c_in, c_out, stride, projection=True), PreActBlock(c_out, c_out, 1, projection=False)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = _batch_norm(c_in)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.pool1(self.conv1(self.pad1(x))))
        return self.fc(self.flatten(self.pool(self.relu(self.bn(x)))))
