"""Attacks as plain objects over ``(model, x, y)``: ``attack(model, x, y, eps, box) -> x_adv``. No Lightning inside."""

from advconf.attacks._gradients import GradientAttack
from advconf.attacks.eot import EOT
from advconf.attacks.fgsm import FGSM
from advconf.attacks.fooling import NonExampleAscent, NonExampleScores, score_non_examples
from advconf.attacks.noise import UniformNoise
from advconf.attacks.offset import ConstantOffset
from advconf.attacks.pgd import PGD

__all__ = [
    "EOT",
    "FGSM",
    "PGD",
    "ConstantOffset",
    "GradientAttack",
    "NonExampleAscent",
    "NonExampleScores",
    "UniformNoise",
    "score_non_examples",
]
