"""Constant pixel-intensity attack (paper §4.1, Fig 1): add one constant to every input value.

Gradient-free ("zero-order"). Unlike the other attacks, ``eps`` is *signed* here: ``+c`` adds the
offset (brighter background), ``-c`` subtracts it. The paper plots both signs.
"""

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import Attack, Box, check_finite, clip_box


class ConstantOffset(Attack):
    """``x + eps`` on every input value, clipped to the box; ``eps`` is signed (see module docs)."""

    @staticmethod
    def check_budget(eps: float) -> float:
        return check_finite("offset", eps)  # signed

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        return clip_box(x + eps, box)
