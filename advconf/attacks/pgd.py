"""Projected gradient descent (Madry et al. 2018), L∞ and L2, with random start and restarts."""

import torch
from torch import Tensor, nn

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
    make_generator,
    make_projection,
    random_in_ball,
)
from advconf.budgets import Budget, parse_budget
from advconf.errors import AdvconfError
from advconf.functional import classification_loss, predictions


class PGD(GradientAttack):
    """Madry et al. 2018, Sec. 2.1 (their challenge code's `LinfPGDAttack`).

    ``steps`` gradient steps, each projected back onto the eps-ball and the box.

    Step size: ``step_size`` (input units) if given, else ``rel_step_size * eps``, else
    ``2.5 * eps / steps`` (Madry et al.'s rule of thumb: the walk can reach the ball's edge from any start).
    Each step costs one forward and one backward pass; there is no early stopping, so the result is
    the same as a plain PGD loop.

    Args:
        steps: number of gradient steps.
        step_size: absolute step size in input units (``2/255`` is fine).
        rel_step_size: step size as a fraction of eps (exclusive with ``step_size``).
        norm: ``linf`` (sign steps) or ``l2`` (normalised gradient steps).
        random_start: start uniformly inside the eps-ball instead of at ``x``.
        restarts: independent random starts; per example the worst case is kept
            (misclassified first, then the highest loss). Judging a restart costs one extra forward
            pass, in the caller's mode (in train mode that also updates batch-norm statistics).
        targeted: ``y`` are target labels; the attack minimises their loss.
        gradient_samples: forward/backward passes averaged per gradient (EOT for models with
            randomness; each step then costs that many passes).
        seed: seed of the random starts (a local generator; ``None`` draws a fresh seed each call).
            A ``generator`` passed to the call takes its place (adversarial training passes one
            derived from the run's seed and step, so every batch gets a fresh, reproducible start).
    """

    iterative = True

    def __init__(
        self,
        steps: int = 50,
        step_size: Budget | None = None,
        rel_step_size: float | None = None,
        norm: Norm = "linf",
        random_start: bool = True,
        restarts: int = 1,
        targeted: bool = False,
        gradient_samples: int = 1,
        seed: int | None = 0,
    ) -> None:
        if step_size is not None and rel_step_size is not None:
            raise AdvconfError("give PGD either step_size or rel_step_size, not both")
        self.steps = check_count("steps", steps)
        self.step_size = None if step_size is None else check_positive("step_size", parse_budget(step_size, "step_size"))
        self.rel_step_size = None if rel_step_size is None else check_positive("rel_step_size", rel_step_size)
        self.norm = check_norm(norm)
        self.random_start = bool(random_start)
        self.restarts = check_count("restarts", restarts)
        if self.restarts > 1 and not self.random_start:
            raise AdvconfError("PGD restarts need random_start: true (without it every restart is the same)")
        self.targeted = bool(targeted)
        self.gradient_samples = check_count("gradient_samples", gradient_samples)
        self.seed = check_seed(seed)

    def step_size_for(self, eps: float) -> float:
        if self.step_size is not None:
            return self.step_size
        if self.rel_step_size is not None:
            return self.rel_step_size * eps
        return 2.5 * eps / self.steps

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        if eps == 0:
            return clip_box(x, box)
        generator = make_generator(self.seed) if generator is None else generator
        best = self._run(model, x, y, eps, box, generator)
        if self.restarts == 1:
            return best
        best_score = self._score(model, best, y)
        for _ in range(self.restarts - 1):
            candidate = self._run(model, x, y, eps, box, generator)
            score = self._score(model, candidate, y)
            better = (score[0] > best_score[0]) | ((score[0] == best_score[0]) & (score[1] > best_score[1]))
            best = torch.where(better.view(-1, *([1] * (x.ndim - 1))), candidate, best)
            best_score = tuple(torch.where(better, new, old) for new, old in zip(score, best_score))
        return best

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator) -> Tensor:
        project = make_projection(x, eps, self.norm, box)
        step_size = self.step_size_for(eps)
        x_adv = project(x + random_in_ball(x, eps, self.norm, generator)) if self.random_start else x
        for _ in range(self.steps):
            grad = self.gradient(model, x_adv, y)
            x_adv = project(x_adv + step_size * ascent_direction(grad, self.norm))
        return x_adv

    def _score(self, model: nn.Module, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(attack succeeded, attack objective) per example; larger is a worse case for the model."""
        with torch.no_grad():
            logits = model(x_adv)
            loss = classification_loss(logits, y, reduction="none")
            hit = predictions(logits) == y
        return (hit, -loss) if self.targeted else (~hit, loss)
