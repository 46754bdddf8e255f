"""FGSM (L∞ sign step, Goodfellow et al. 2015) and FGM (L2 normalised step): one gradient step of size eps."""

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import (
    Box,
    GradientAttack,
    Norm,
    ascent_direction,
    check_count,
    check_norm,
)


class FGSM(GradientAttack):
    """One step of size ``eps`` along the loss gradient's sign (``linf``) or unit direction (``l2``).

    Args:
        norm: ``linf`` (FGSM) or ``l2`` (FGM).
        targeted: ``y`` are target labels and the step decreases their loss.
        gradient_samples: forward/backward passes averaged per gradient (EOT for models with randomness).
    """

    draws_random_numbers = False

    def __init__(self, norm: Norm = "linf", targeted: bool = False, gradient_samples: int = 1) -> None:
        self.norm = check_norm(norm)
        self.targeted = bool(targeted)
        self.gradient_samples = check_count("gradient_samples", gradient_samples)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        step = torch.add(x, ascent_direction(self.gradient(model, x, y), self.norm), alpha=eps)
        return step if box is None else step.clamp_(*box)  # a fresh tensor: clipped in place
