"""torchvision's ResNet-18 with the input normalisation inside the model (paper Table 3)."""

import torch
from torch import nn
from torchvision.models import resnet18

from advconf.models.layers import Normalize

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class ResNet18(nn.Module):
    """ResNet-18 over pixel-space inputs; ImageNet mean/std normalisation is its first layer.

    `cifar_stem=True` swaps the 7x7/2 stem conv and max pool for one 3x3/1 conv, the usual change
    for 32x32 images. `input_shape` defaults to (3, 224, 224), or (3, 32, 32) with the CIFAR stem;
    the network itself accepts any size (global average pooling). Parameter names under `net.` are
    torchvision's, so its checkpoints load with a `net.` prefix.
    """

    def __init__(self, num_classes: int = 1000, cifar_stem: bool = False, input_shape: list[int] | None = None) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape or ([3, 32, 32] if cifar_stem else [3, 224, 224]))
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.net = resnet18(weights=None, num_classes=num_classes)
        if cifar_stem:
            self.net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(self.net.conv1.weight, mode="fan_out", nonlinearity="relu")  # as torchvision
            self.net.maxpool = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))
