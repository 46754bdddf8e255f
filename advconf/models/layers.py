"""Small layers shared by the architectures: TF-style SAME padding and input normalisation.

Inputs arrive in pixel space ([0, 1]); anything that rescales them lives here, inside the model,
so attack budgets stay in pixel units.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# The layers with weights that quantisation, weight decay and pruning act on.
LAYER_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


class SamePad2d(nn.Module):
    """TensorFlow's SAME padding for a strided convolution: output size ceil(in / stride).

    TF pads asymmetrically, with the odd pixel on the bottom/right; PyTorch's `padding="same"`
    only allows stride 1 and `padding=k // 2` differs from TF whenever the total pad is odd.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def _pad(self, size: int) -> tuple[int, int]:
        total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pad(x.shape[-2])
        left, right = self._pad(x.shape[-1])
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class PerImageStandardization(nn.Module):
    """`tf.image.per_image_standardization`: (x - mean) / max(std, 1/sqrt(N)) over each image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(dim=1)
        std = flat.std(dim=1, unbiased=False).clamp_min(1.0 / math.sqrt(flat.shape[1]))
        shape = (-1,) + (1,) * (x.ndim - 1)
        return (x - mean.view(shape)) / std.view(shape)


class Normalize(nn.Module):
    """Per-channel (x - mean) / std with fixed statistics (buffers, so they follow `.to(device)`)."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
