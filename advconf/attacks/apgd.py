"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", Sec. 3 and 4): APGD-CE, APGD-DLR and APGD-T, for L∞ and L2.

The algorithm is the reference implementation's, ``fra31/auto-attack`` ``autoattack/autopgd_base.py``
(``APGDAttack``, ``APGDAttack_targeted``), step for step: the random start scaled onto the eps-sphere,
step size 2·eps, momentum 0.75 after the first step, the step-size checks at iterations
``int(0.22 N)``, then each interval ``int(0.03 N)`` shorter but at least ``int(0.06 N)``
(:func:`checkpoints`), where the step size halves and the iterate returns to the best point when
(1) the loss rose in at most ``rho`` of the interval's steps or (2) the step size was not halved at
the previous check and the best loss has not improved since. Two details of the reference's code are
kept on purpose so results match the published numbers: the first interval's first step is compared
with 0 (its ``loss_steps[-1]`` row, not yet written), and condition (2) is off at the first check.

advconf's own code rather than torchattacks' ``APGD``/``APGDT`` (measured, see the report in
docs/architecture.md): torchattacks' L2 ``APGDT`` steps every example with the step size of the
batch's first example; every torchattacks APGD keeps stepping examples it has already broken, and
reseeds the global RNG. Here an example leaves the batch as soon as it is misclassified — its
verdict cannot change and the other examples' updates do not depend on it (the caller's eval mode
assumed: in train mode batch norm couples the examples) — which saves most of the work on
non-robust models.
"""

from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import Tensor, nn

from advconf.attacks._applicability import require_classes
from advconf.attacks._first_break import Attempt, first_break
from advconf.attacks._gradients import (
    Box,
    GradientAttack,
    Norm,
    ascent_direction,
    check_count,
    check_norm,
    check_positive,
    check_seed,
    clip_box,
    l2_norms,
    make_generator,
    make_projection,
    per_example,
)
from advconf.errors import AdvconfError
from advconf.functional import classification_loss, num_classes, predictions

Loss = Literal["ce", "dlr"]
# (logits, labels, targets or None) -> per-example loss to maximise
LossFn = Callable[[Tensor, Tensor, Tensor | None], Tensor]
# (indices of the examples still standing, their targets or None, loss) -> one APGD run's points for them
Runner = Callable[[Tensor, Tensor | None, LossFn], Tensor]


def checkpoints(steps: int) -> list[int]:
    """Iteration counts after which APGD checks its step size (reference: ``n_iter_2``, ``size_decr``, ``n_iter_min``).

    For 100 steps: 22, 41, 57, 70, 80, 87, 93, 99 — the paper's ``ceil(p_j N)`` with
    ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``.
    """
    gap, shrink, smallest = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    marks, total = [], gap
    while total <= steps:
        marks.append(total)
        gap = max(gap - shrink, smallest)
        total += gap
    return marks


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of logits ratio: ``-(z_y - max_{i≠y} z_i) / (z_π1 - z_π3)`` per example (needs ≥ 3 classes)."""
    ordered, order = logits.sort(dim=1)
    rows = torch.arange(len(y), device=y.device)
    true = logits[rows, y]
    top_is_true = (order[:, -1] == y).to(logits.dtype)
    best_other = ordered[:, -2] * top_is_true + ordered[:, -1] * (1 - top_is_true)
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def targeted_dlr_loss(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    """Targeted DLR: ``-(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2)`` per example (needs ≥ 4 classes)."""
    ordered = logits.sort(dim=1).values
    rows = torch.arange(len(y), device=y.device)
    scale = ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4])
    return -(logits[rows, y] - logits[rows, target]) / (scale + 1e-12)


def _ce(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    return classification_loss(logits, y, reduction="none")


def _dlr(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    return dlr_loss(logits, y)


def _targeted_dlr(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    return targeted_dlr_loss(logits, y, target)


class _APGDBase(GradientAttack):
    """Shared arguments, checks and the single APGD run; subclasses choose the loss and the attempts."""

    name: str
    min_classes: int
    why: str
    uses_gradients = True
    iterative = True

    def __init__(
        self, norm: Norm, steps: int, restarts: int, rho: float, gradient_samples: int, seed: int | None
    ) -> None:
        self.norm = check_norm(norm)
        self.steps = check_count("steps", steps)
        self.restarts = check_count("restarts", restarts)
        self.rho = check_positive("rho", rho)
        if self.rho > 1:
            raise AdvconfError(f"rho is a fraction of the steps between checks and must be at most 1, got {rho}")
        self.gradient_samples = check_count("gradient_samples", gradient_samples)
        self.seed = check_seed(seed)

    def check_applicable(self, classes: int, box: Box, x: Tensor) -> None:
        """Raises ``NotApplicable`` (one line) when the model has too few classes for this loss (any box works)."""
        require_classes(self.name, classes, self.min_classes, self.why)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        with torch.no_grad():
            logits = model(x)
        self.check_applicable(num_classes(logits), box, x)
        if eps == 0:
            return clip_box(x, box)
        generator = make_generator(self.seed) if generator is None else generator

        def run(index: Tensor, target: Tensor | None, loss_fn: LossFn) -> Tensor:
            return self._single_run(model, x[index], y[index], target, loss_fn, eps, box, generator)

        return first_break(model, x, y, predictions(logits) == y, self._attempts(run, logits))

    def _attempts(self, run: Runner, logits: Tensor) -> Iterator[Attempt]:
        """The runs to try in turn, each on the examples no earlier one broke."""
        raise NotImplementedError

    def _loss_and_gradient(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, loss_fn: LossFn):
        """Per-example loss, logits and input gradient; with ``gradient_samples > 1`` the gradient is averaged
        over that many passes (EOT, as the reference's ``eot_iter``), logits and loss are the last pass's."""
        x = x.detach().requires_grad_(True)
        grad = torch.zeros_like(x)
        for _ in range(self.gradient_samples):
            logits = model(x)
            loss = loss_fn(logits, y, target)
            if loss.requires_grad:  # a model that detaches its input has no input gradient: zeros
                part = torch.autograd.grad(loss.sum(), x, allow_unused=True)[0]
                grad = grad if part is None else grad + part
        return loss.detach(), logits.detach(), grad / self.gradient_samples

    def _random_start(self, x: Tensor, eps: float, box: Box, generator: torch.Generator) -> Tensor:
        # Drawn on the CPU like the reference's torch.rand / torch.randn, so a seed gives the same start.
        if self.norm == "linf":
            t = (2 * torch.rand(x.shape, generator=generator) - 1).to(x)
            scale = t.flatten(1).abs().amax(dim=1)
        else:
            t = torch.randn(x.shape, generator=generator).to(x)
            scale = l2_norms(t)
        return clip_box(x + eps * t / per_example(scale + 1e-12, t), box)

    def _single_run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        loss_fn: LossFn,
        eps: float,
        box: Box,
        generator: torch.Generator,
    ) -> Tensor:
        """One APGD run: per example the first misclassified iterate, else the highest-loss point."""
        result = x.clone()
        x_adv = self._random_start(x, eps, box, generator)
        loss, logits, grad = self._loss_and_gradient(model, x_adv, y, target, loss_fn)
        position = torch.arange(len(x), device=x.device)
        x_best, grad_best, loss_best = x_adv.clone(), grad.clone(), loss.clone()
        x_previous = x_adv.clone()
        step_size = torch.full((len(x),), 2 * eps, dtype=x.dtype, device=x.device)
        loss_steps = torch.zeros(self.steps, len(x), dtype=loss.dtype, device=x.device)
        loss_best_last_check, reduced_last_check = loss_best.clone(), torch.ones_like(loss_best, dtype=torch.bool)
        gaps = {mark: mark - previous for previous, mark in zip([0] + checkpoints(self.steps), checkpoints(self.steps))}
        project = make_projection(x, eps, self.norm, box)

        for i in range(-1, self.steps):  # i = -1: the random start itself may already fool the model
            if i >= 0:
                momentum = 0.75 if i > 0 else 1.0
                displacement, x_previous = x_adv - x_previous, x_adv
                z = project(x_adv + per_example(step_size, x) * ascent_direction(grad, self.norm))
                x_adv = project(x_adv + (z - x_adv) * momentum + displacement * (1 - momentum))
                loss, logits, grad = self._loss_and_gradient(model, x_adv, y, target, loss_fn)
                loss_steps[i] = loss
                improved = loss > loss_best
                x_best = torch.where(per_example(improved, x), x_adv, x_best)
                grad_best = torch.where(per_example(improved, x), grad, grad_best)
                loss_best = torch.where(improved, loss, loss_best)

            broken = predictions(logits) != y
            if broken.any():
                result[position[broken]] = x_adv[broken]
                keep = ~broken
                if not keep.any():
                    return result
                x, y, x_adv, x_previous, grad = x[keep], y[keep], x_adv[keep], x_previous[keep], grad[keep]
                x_best, grad_best = x_best[keep], grad_best[keep]
                loss_best, step_size = loss_best[keep], step_size[keep]
                loss_steps, position = loss_steps[:, keep], position[keep]
                loss_best_last_check, reduced_last_check = loss_best_last_check[keep], reduced_last_check[keep]
                target = None if target is None else target[keep]
                project = make_projection(x, eps, self.norm, box)

            gap = gaps.get(i + 1)
            if gap is not None:
                # For the first interval row i - gap is -1: the reference wraps around to a row not yet written (0).
                rises = (loss_steps[i - gap + 1 : i + 1] > loss_steps[torch.arange(i - gap, i) % self.steps]).sum(0)
                reduce = (rises <= gap * self.rho) | (~reduced_last_check & (loss_best_last_check >= loss_best))
                reduced_last_check, loss_best_last_check = reduce, loss_best.clone()
                step_size = torch.where(reduce, step_size / 2, step_size)
                x_adv = torch.where(per_example(reduce, x), x_best, x_adv)
                grad = torch.where(per_example(reduce, x), grad_best, grad)
        result[position] = x_best
        return result


class APGD(_APGDBase):
    """Untargeted APGD on the cross-entropy (APGD-CE) or DLR loss (APGD-DLR), L∞ or L2.

    The defaults are AutoAttack's ``standard`` APGD-CE. Single-logit binary models work with
    ``loss: ce`` (their binary cross-entropy is the cross-entropy of the logits ``[0, z]``);
    DLR needs at least 3 classes and raises ``NotApplicable`` otherwise.

    Args:
        loss: ``ce`` or ``dlr``.
        norm: ``linf`` or ``l2``.
        steps: iterations per run (the paper's 100).
        restarts: runs from fresh random starts, each on the examples no earlier run broke.
        rho: step-size check threshold (fraction of the interval's steps in which the loss rose).
        gradient_samples: forward/backward passes averaged per gradient (EOT for randomised models).
        seed: seed of the random starts (a local generator); a ``generator`` passed to the call replaces it.
    """

    def __init__(
        self,
        loss: Loss = "ce",
        norm: Norm = "linf",
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        gradient_samples: int = 1,
        seed: int | None = 0,
    ) -> None:
        if loss not in ("ce", "dlr"):
            raise AdvconfError(f"APGD loss must be 'ce' or 'dlr', got {loss!r}")
        super().__init__(norm, steps, restarts, rho, gradient_samples, seed)
        self.loss = loss
        self.name = f"APGD-{loss.upper()}"
        self.min_classes, self.why = (3, "the DLR loss uses the third-largest logit") if loss == "dlr" else (2, "")

    def _attempts(self, run: Runner, logits: Tensor) -> Iterator[Attempt]:
        loss_fn = _dlr if self.loss == "dlr" else _ce
        for _ in range(self.restarts):
            yield lambda index: run(index, None, loss_fn)


class APGDT(_APGDBase):
    """Targeted APGD on the targeted DLR loss (APGD-T), one run per target class, L∞ or L2.

    The targets of each example are its ``targets`` most likely wrong classes on clean input, tried in
    order of likelihood, each only on the examples no earlier target broke (the reference's
    ``APGDAttack_targeted``; AutoAttack uses 9). With fewer classes all wrong classes are tried.
    Needs at least 4 classes (the loss uses the fourth-largest logit); raises ``NotApplicable`` otherwise.

    Args:
        norm: ``linf`` or ``l2``.
        steps: iterations per run.
        targets: how many of the most likely wrong classes to try.
        restarts: runs per target class.
        rho: step-size check threshold.
        gradient_samples: forward/backward passes averaged per gradient (EOT).
        seed: seed of the random starts; a ``generator`` passed to the call replaces it.
    """

    name = "APGD-T"
    min_classes = 4
    why = "the targeted DLR loss uses the fourth-largest logit"

    def __init__(
        self,
        norm: Norm = "linf",
        steps: int = 100,
        targets: int = 9,
        restarts: int = 1,
        rho: float = 0.75,
        gradient_samples: int = 1,
        seed: int | None = 0,
    ) -> None:
        super().__init__(norm, steps, restarts, rho, gradient_samples, seed)
        self.targets = check_count("targets", targets)

    def _attempts(self, run: Runner, logits: Tensor) -> Iterator[Attempt]:
        ranked = logits.sort(dim=1).indices  # ascending: column -1 is the predicted class, -2 the runner-up
        for rank in range(2, min(self.targets, logits.shape[1] - 1) + 2):
            for _ in range(self.restarts):
                yield lambda index, rank=rank: run(index, ranked[index, -rank], _targeted_dlr)
