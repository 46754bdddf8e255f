"""FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
examples with a fast adaptive boundary attack"), as AutoAttack's third stage, L∞ and L2.

Engine: torchattacks' ``FAB`` (a port of the reference ``fra31/auto-attack`` ``autoattack/fab_base.py``),
run the way AutoAttack's ``standard`` version runs it: one run per target class (the ``targets`` most
likely wrong classes, in order), no restarts (so no random draws: the attack is deterministic), 100
iterations — torchattacks' own default and its ``AutoAttack`` use 10. FAB minimises the perturbation;
a point it finds counts only if it fools the model within the budget (the result is projected onto
the eps-ball and the box and checked).

One method is replaced: torchattacks takes the input gradient with ``Tensor.backward``, which also
fills ``.grad`` of every model parameter; here it is ``torch.autograd.grad`` with respect to the input only.
"""

import torch
import torchattacks
from torch import Tensor, nn

from advconf.attacks._applicability import require_box, require_classes
from advconf.attacks._first_break import first_break
from advconf.attacks._gradients import (
    Attack,
    Box,
    Norm,
    check_count,
    check_norm,
    check_positive,
    clip_box,
    make_projection,
)
from advconf.attacks._torchattacks import UnitBoxView, build
from advconf.errors import AdvconfError
from advconf.functional import num_classes, predictions


class _FAB(torchattacks.FAB):
    def get_diff_logits_grads_batch_targeted(self, imgs: Tensor, la: Tensor, la_target: Tensor) -> tuple[Tensor, ...]:
        """Logit difference (target minus true class) and its input gradient, no parameter gradients."""
        im = imgs.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.get_logits(im)
            rows = torch.arange(len(im), device=im.device)
            difference = logits[rows, la_target] - logits[rows, la]
            total = difference.sum()
        grad = torch.autograd.grad(total, im, allow_unused=True)[0] if total.requires_grad else None
        grad = torch.zeros_like(im) if grad is None else grad
        return difference.detach().unsqueeze(1), grad.unsqueeze(1)


class FABT(Attack):
    """Targeted FAB over the most likely wrong classes (AutoAttack's FAB-T); needs a bounded box.

    Single-logit binary models are attacked as the two logits ``[0, z]`` (one target class).

    Args:
        norm: ``linf`` or ``l2``.
        steps: iterations per target class (the reference's 100).
        targets: how many of the most likely wrong classes to try (AutoAttack: 9).
        alpha_max: largest weight of the step back towards the original point (reference 0.1).
        eta: overshoot of the projection onto the linearised boundary (reference 1.05).
        beta: backward step after a success (reference 0.9).
    """

    name = "FAB-T"
    uses_gradients = True

    def __init__(
        self,
        norm: Norm = "linf",
        steps: int = 100,
        targets: int = 9,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
    ) -> None:
        self.norm = check_norm(norm)
        self.steps = check_count("steps", steps)
        self.targets = check_count("targets", targets)
        self.alpha_max = check_positive("alpha_max", alpha_max)
        self.eta = check_positive("eta", eta)
        self.beta = check_positive("beta", beta)
        if self.alpha_max > 1 or self.beta > 1:
            raise AdvconfError(f"FAB-T alpha_max and beta must be at most 1, got {alpha_max} and {beta}")

    def check_applicable(self, classes: int, box: Box, x: Tensor) -> None:
        """Raises ``NotApplicable`` (one line) on an unbounded input space."""
        require_classes(self.name, classes, 2, "")
        require_box(self.name, box)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        """``generator`` is accepted for the contract and unused: FAB-T makes no random draws."""
        with torch.no_grad():
            logits = model(x)
        classes = num_classes(logits)
        self.check_applicable(classes, box, x)
        if eps == 0:
            return clip_box(x, box)
        view = UnitBoxView(model, box)
        fab = build(
            _FAB, view, x.device, norm={"linf": "Linf", "l2": "L2"}[self.norm], eps=eps / view.scale,
            steps=self.steps, n_restarts=1, alpha_max=self.alpha_max, eta=self.eta, beta=self.beta,
            multi_targeted=True, n_classes=classes,
        )
        u = view.to_unit(x)

        def attempt(index: Tensor, rank: int) -> Tensor:
            fab.target_class = rank  # the rank-th largest clean logit of each example is its target
            with torch.no_grad():
                found = fab.attack_single_run_targeted(u[index], y[index], use_rand_start=False)
            return make_projection(x[index], eps, self.norm, box)(view.from_unit(found).to(x.dtype))

        ranks = range(2, min(self.targets, classes - 1) + 2)
        attempts = (lambda index, rank=rank: attempt(index, rank) for rank in ranks)
        return first_break(model, x, y, predictions(logits) == y, attempts)
