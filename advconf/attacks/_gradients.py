"""What every attack shares: argument checks, the input gradient, step directions and projections.

Inputs are cloned on entry and gradients are taken under ``inference_mode(False)`` +
``enable_grad()``, so an attack works on tensors made inside Lightning's test loop. Gradients are
taken with ``torch.autograd.grad`` w.r.t. the input only: parameters never get ``.grad``, and the
model's train/eval mode is never touched (the caller chooses it).
"""

import math
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

from advconf.errors import AdvconfError
from advconf.functional import classification_loss

Norm = Literal["linf", "l2"]
Box = tuple[float, float] | None


def check_finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise AdvconfError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_eps(eps: float) -> float:
    eps = check_finite("eps", eps)
    if eps < 0:
        raise AdvconfError(f"eps must be non-negative, got {eps}")
    return eps


def check_positive(name: str, value: float) -> float:
    value = check_finite(name, value)
    if value <= 0:
        raise AdvconfError(f"{name} must be positive, got {value}")
    return value


def check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AdvconfError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_norm(norm: str) -> Norm:
    if norm not in ("linf", "l2"):
        raise AdvconfError(f"norm must be 'linf' or 'l2', got {norm!r}")
    return norm


def check_box(box: Box) -> Box:
    if box is None:
        return None
    try:
        low, high = (check_finite("box bound", b) for b in box)
    except (TypeError, ValueError) as err:  # not a pair
        raise AdvconfError(f"box must be a (low, high) pair or None, got {box!r}") from err
    if low >= high:
        raise AdvconfError(f"box must have low < high, got {box!r}")
    return low, high


def check_seed(seed: int | None) -> int | None:
    """A seed is an integer (``None``: a fresh one each call); YAML's ``true`` is not one."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise AdvconfError(f"seed must be an integer or null, got {seed!r}")
    return seed


def make_generator(seed: int | None) -> torch.Generator:
    """A local CPU generator: reproducible on any device and leaves the global RNG alone."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


@contextmanager
def gradients_on() -> Iterator[None]:
    """Input gradients even inside ``inference_mode`` / ``no_grad`` (Lightning's test and validation loops)."""
    if torch.is_grad_enabled() and not torch.is_inference_mode_enabled():
        yield  # already on (adversarial training): entering the modes costs more than a small model's FGSM
        return
    with torch.inference_mode(False), torch.enable_grad():
        yield


def fresh(t: Tensor) -> Tensor:
    """A normal tensor with no history; call under ``gradients_on()`` so inference tensors become usable."""
    return t.detach().clone()


def input_gradient(model: nn.Module, x: Tensor, y: Tensor, targeted: bool = False, samples: int = 1) -> Tensor:
    """Gradient w.r.t. ``x`` of the attack objective: the loss on ``y``, or minus it when ``y`` are targets.

    The loss is summed over examples so each example's gradient does not depend on the batch size.
    With ``samples > 1`` the gradient is averaged over that many forward passes (EOT for models with
    randomness); each pass is differentiated on its own to keep only one graph in memory.
    """
    x = x.detach().requires_grad_(True)
    total = None
    for _ in range(samples):
        loss = classification_loss(model(x), y, reduction="sum")
        objective = -loss if targeted else loss
        # A model that detaches its input (non-differentiable preprocessing) has no input gradient:
        # return zeros, which the masking check reports, instead of failing.
        grad = torch.autograd.grad(objective, x, allow_unused=True)[0] if objective.requires_grad else None
        grad = torch.zeros_like(x) if grad is None else grad
        total = grad if total is None else total + grad
    return total if samples == 1 else total / samples


class Attack:
    """Base of every attack: the contract (docs/architecture.md) in one place.

    ``attack(model, x, y, eps, box=(0.0, 1.0), generator=None)`` checks the budget and the box, turns
    the inputs into plain tensors with input gradients available (even inside Lightning's inference
    mode) and hands them to ``perturb``, which subclasses implement. ``generator``, when given,
    replaces the attack's own seeded generator for its random draws. An attack that draws none sets
    ``draws_random_numbers`` false, and callers may then pass no generator.
    """

    draws_random_numbers: bool = True

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        eps: float,
        box: Box = (0.0, 1.0),
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return self.prepared(self.perturb, model, x, y, eps, box, generator)

    def prepared(
        self, method: Callable, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Any:
        """``method(model, x, y, eps, box, generator)`` on checked arguments and fresh inputs."""
        eps, box = self.check_budget(eps), check_box(box)
        with gradients_on():
            return method(model, fresh(x), fresh(y), eps, box, generator)

    @staticmethod
    def check_budget(eps: float) -> float:
        return check_eps(eps)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError


class GradientAttack(Attack):
    """Base of attacks that follow input gradients.

    ``gradient_samples`` > 1 averages every input gradient over that many forward/backward passes:
    expectation over transformation (Athalye et al. 2018) for models with randomness (dropout at test
    time, noisy inputs). On a deterministic model it changes nothing but the cost. ``iterative``
    says whether the attack takes several steps (the masking checks compare it with one step).
    """

    targeted: bool = False
    iterative: bool = False
    gradient_samples: int = 1

    def gradient(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return input_gradient(model, x, y, self.targeted, self.gradient_samples)


def per_example(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.ndim - 1)))


def l2_norms(v: Tensor) -> Tensor:
    return v.flatten(1).norm(dim=1)


def ascent_direction(grad: Tensor, norm: Norm) -> Tensor:
    """Steepest ascent direction of unit size: the sign (L∞) or the per-example unit vector (L2)."""
    if norm == "linf":
        return grad.sign()
    # Confident models give gradients near 1e-20: rescale by the largest entry first, or the
    # squared norm underflows and the step vanishes.
    largest = grad.flatten(1).abs().amax(dim=1)
    grad = grad / per_example(torch.where(largest > 0, largest, 1.0), grad)
    length = l2_norms(grad)
    return grad / per_example(torch.where(length > 0, length, 1.0), grad)


def clip_box(x: Tensor, box: Box) -> Tensor:
    return x if box is None else x.clamp(*box)


def make_projection(x: Tensor, eps: float, norm: Norm, box: Box) -> Callable[[Tensor], Tensor]:
    """Projection onto the eps-ball around ``x`` intersected with the box."""
    if norm == "linf":
        # Both sets are coordinate-wise intervals, so one clamp to precomputed bounds does it per step.
        lower, upper = clip_box(x - eps, box), clip_box(x + eps, box)
        return lambda x_adv: torch.clamp(x_adv, lower, upper)

    def project_l2(x_adv: Tensor) -> Tensor:
        delta = x_adv - x
        scale = (eps / l2_norms(delta).clamp_min(1e-12)).clamp(max=1.0)
        return clip_box(x + delta * per_example(scale, delta), box)

    return project_l2


def random_unit_l2(like: Tensor, generator: torch.Generator) -> Tensor:
    """Directions uniform on the unit L2 sphere, one per example."""
    z = torch.randn(like.shape, generator=generator).to(like)
    return z / per_example(l2_norms(z).clamp_min(1e-12), z)


def random_uniform_linf(like: Tensor, eps: float, generator: torch.Generator) -> Tensor:
    """Perturbations uniform in the L∞ ball [-eps, eps]^d."""
    return (2 * torch.rand(like.shape, generator=generator) - 1).to(like) * eps


def random_in_ball(like: Tensor, eps: float, norm: Norm, generator: torch.Generator) -> Tensor:
    """Perturbations uniform in the eps-ball (the random start of PGD)."""
    if norm == "linf":
        return random_uniform_linf(like, eps, generator)
    dims = like[0].numel()
    radius = torch.rand(like.shape[0], generator=generator).to(like) ** (1 / dims) * eps
    return random_unit_l2(like, generator) * per_example(radius, like)
