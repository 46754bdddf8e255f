"""Models built to mask gradients, and a normal one, shared by the masking tests of the pure checks
(tests/test_masking.py) and of the evaluation callback (tests/callbacks/test_attack_evaluation.py)."""

from tests.attacks.toys import Quantized, held_out_points, trained_mlp
from tests.test_masking import Overshoot, overshoot_points

__all__ = ["Overshoot", "Quantized", "held_out_points", "overshoot_points", "trained_mlp"]
