"""FGSM (L∞ sign step, Goodfellow et al. 2015) and FGM (L2 normalised step): one gradient step of size eps."""

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import (
    Box,
    GradientAttack,
    Norm,
    ascent_direction,
    check_count,
    check_box,
    check_eps,
    check_norm,
    clip_box,
    fresh,
    gradients_on,
)


class FGSM(GradientAttack):
    """One step of size ``eps`` along the loss gradient's sign (``linf``) or unit direction (``l2``).

    Args:
        norm: ``linf`` (FGSM) or ``l2`` (FGM).
        targeted: ``y`` are target labels and the step decreases their loss.
        gradient_samples: forward/backward passes averaged per gradient (EOT for models with randomness).
    """

    def __init__(self, norm: Norm = "linf", targeted: bool = False, gradient_samples: int = 1) -> None:
        self.norm = check_norm(norm)
        self.targeted = bool(targeted)
        self.gradient_samples = check_count("gradient_samples", gradient_samples)

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box = (0.0, 1.0), generator: torch.Generator | None = None
    ) -> Tensor:
        eps, box = check_eps(eps), check_box(box)
        with gradients_on():
            x, y = fresh(x), fresh(y)
            grad = self.gradient(model, x, y)
            return clip_box(x + eps * ascent_direction(grad, self.norm), box)
