"""Run attempts (restarts, target classes) in turn, each only on the examples that nothing has broken yet.

This is how the AutoAttack reference (``fra31/auto-attack``: ``APGDAttack.perturb``,
``APGDAttack_targeted.perturb``, ``FABAttack.perturb``, ``SquareAttack.perturb``) spends its
restarts. An example counts as broken only when the model, run on the point the attempt returned,
predicts a wrong class: the verdict never rests on an attack's own bookkeeping.
"""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from advconf.functional import predictions

# An attempt maps the indices of the examples still standing to adversarial candidates for them.
Attempt = Callable[[Tensor], Tensor]


def first_break(model: nn.Module, x: Tensor, y: Tensor, correct: Tensor, attempts: Iterable[Attempt]) -> Tensor:
    """Adversarial inputs: per example the first candidate that fools the model, else the last candidate tried.

    Args:
        correct: which examples the model classifies correctly on clean input; the others are not
            attacked and come back unchanged.
        attempts: run in order; each sees only the examples no earlier attempt broke.
    """
    x_adv = x.clone()
    standing = correct.clone()
    for attempt in attempts:
        index = standing.nonzero().flatten()
        if index.numel() == 0:
            break
        candidates = attempt(index)
        with torch.no_grad():
            broken = predictions(model(candidates)) != y[index]
        x_adv[index] = candidates.to(x_adv.dtype)
        standing[index[broken]] = False
    return x_adv
