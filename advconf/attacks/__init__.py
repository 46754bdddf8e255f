"""Attacks as plain objects over ``(model, x, y)``: ``attack(model, x, y, eps, box, generator=None) -> x_adv``.

No Lightning inside. Gradient attacks derive from ``GradientAttack`` (``gradient_samples`` > 1 is EOT).
"""

from advconf.attacks._gradients import GradientAttack, input_gradient
from advconf.attacks.fgsm import FGSM
from advconf.attacks.noise import UniformNoise
from advconf.attacks.non_examples import NonExampleAscent, NonExampleScores, score_non_examples
from advconf.attacks.offset import ConstantOffset
from advconf.attacks.pgd import PGD

__all__ = [
    "FGSM",
    "PGD",
    "ConstantOffset",
    "GradientAttack",
    "NonExampleAscent",
    "NonExampleScores",
    "UniformNoise",
    "input_gradient",
    "score_non_examples",
]
