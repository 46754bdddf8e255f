"""Constant pixel-intensity attack (paper §4.1, Fig 1): add one constant to every input value.

Gradient-free ("zero-order"). Unlike the other attacks, ``eps`` is *signed* here: ``+c`` adds the
offset (brighter background), ``-c`` subtracts it. The paper plots both signs.
"""

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import Box, check_box, check_finite, clip_box, fresh, gradients_on


class ConstantOffset:
    """``x + eps`` on every input value, clipped to the box; ``eps`` is signed (see module docs)."""

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box = (0.0, 1.0), generator: torch.Generator | None = None
    ) -> Tensor:
        offset, box = check_finite("offset", eps), check_box(box)
        with gradients_on():
            return clip_box(fresh(x) + offset, box)
