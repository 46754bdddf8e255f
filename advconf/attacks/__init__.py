"""Attacks as plain objects over ``(model, x, y)``: ``attack(model, x, y, eps, box, generator=None) -> x_adv``.

No Lightning inside. Gradient attacks derive from ``GradientAttack`` (``gradient_samples`` > 1 is EOT).
"""

from advconf.attacks._applicability import NotApplicable
from advconf.attacks._gradients import Attack, GradientAttack, input_gradient
from advconf.attacks.apgd import APGD, APGDT
from advconf.attacks.cascade import AutoAttack, Cascade, CascadeResult, StageReport
from advconf.attacks.fab import FABT
from advconf.attacks.fgsm import FGSM
from advconf.attacks.noise import UniformNoise
from advconf.attacks.non_examples import (
    NonExampleAscent,
    NonExampleScores,
    score_non_examples,
)
from advconf.attacks.offset import ConstantOffset
from advconf.attacks.pgd import PGD
from advconf.attacks.square import Square

__all__ = [
    "APGD",
    "APGDT",
    "FABT",
    "FGSM",
    "PGD",
    "Attack",
    "AutoAttack",
    "Cascade",
    "CascadeResult",
    "NotApplicable",
    "Square",
    "StageReport",
    "ConstantOffset",
    "GradientAttack",
    "NonExampleAscent",
    "NonExampleScores",
    "UniformNoise",
    "input_gradient",
    "score_non_examples",
]
