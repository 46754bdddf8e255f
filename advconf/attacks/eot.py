"""Expectation over transformation (Athalye et al. 2018) for models with randomness."""

import copy

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import Box, GradientAttack, check_count
from advconf.errors import AdvconfError


class EOT:
    """Runs ``attack`` with every input gradient averaged over ``samples`` stochastic forward passes.

    The wrapped attack is copied, so the object given in the config keeps its plain gradients.

    Args:
        attack: any gradient attack (``FGSM``, ``PGD``).
        samples: forward/backward passes averaged per gradient.
    """

    def __init__(self, attack: GradientAttack, samples: int = 10) -> None:
        if not isinstance(attack, GradientAttack):
            raise AdvconfError(f"EOT wraps gradient attacks (FGSM, PGD), got {type(attack).__name__}")
        self.samples = check_count("samples", samples)
        self.attack = copy.copy(attack)
        self.attack.gradient_samples = self.samples

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box = (0.0, 1.0), generator: torch.Generator | None = None
    ) -> Tensor:
        return self.attack(model, x, y, eps, box, generator)
