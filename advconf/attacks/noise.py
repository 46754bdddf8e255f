"""Random noise with the same budget as an attack: the baseline of the gradient-masking check."""

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import (
    Attack,
    Box,
    Norm,
    check_norm,
    check_seed,
    clip_box,
    make_generator,
    random_uniform_linf,
    random_unit_l2,
)


class UniformNoise(Attack):
    """``linf``: uniform in [-eps, eps] per value; ``l2``: a uniformly random direction of length eps. Clipped to the box.

    Args:
        norm: which budget the noise matches.
        seed: seed of a local generator (``None`` draws a fresh seed each call).
    """

    def __init__(self, norm: Norm = "linf", seed: int | None = 0) -> None:
        self.norm = check_norm(norm)
        self.seed = check_seed(seed)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        generator = make_generator(self.seed) if generator is None else generator
        if self.norm == "linf":
            noise = random_uniform_linf(x, eps, generator)
        else:
            noise = eps * random_unit_l2(x, generator)
        return clip_box(x + noise, box)
