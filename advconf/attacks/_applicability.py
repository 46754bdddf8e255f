"""What an attack needs from the model and the data, checked before any work: one clear line when it is missing.

A cascade (``advconf.attacks.cascade``) catches ``NotApplicable`` and reports the stage as skipped;
called on its own, the attack raises it like any other ``AdvconfError``.
"""

from torch import Tensor

from advconf.attacks._gradients import Box
from advconf.errors import AdvconfError


class NotApplicable(AdvconfError):
    """The attack cannot run on this model or input space (too few classes, no box, not images)."""


def require_classes(attack: str, num_classes: int, minimum: int, why: str) -> None:
    if num_classes < minimum:
        raise NotApplicable(f"{attack} needs at least {minimum} classes ({why}); the model has {num_classes}")


def require_box(attack: str, box: Box) -> tuple[float, float]:
    if box is None:
        raise NotApplicable(f"{attack} needs a bounded input box; this input space is unbounded (box: null)")
    return box


def require_images(attack: str, x: Tensor, min_side: int = 1) -> None:
    if x.ndim != 4 or min(x.shape[2:]) < min_side:
        raise NotApplicable(
            f"{attack} needs image inputs (N, C, H, W) with sides of at least {min_side}, got shape {tuple(x.shape)}"
        )
