"""Gradient-masking red flags (Athalye et al. 2018; the AutoAttack sanity checks).

Each check is a pure function over evaluation results returning a ``Flag``: whether it fired and a
one-line message a person can act on. A fired flag means the attack's numbers are probably an
overestimate of robustness, not that the model is robust. ``MaskingProbe`` collects what the checks
need while an attack evaluation runs.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advconf.attacks import FGSM, PGD, GradientAttack, UniformNoise, input_gradient
from advconf.functional import predictions


@dataclass(frozen=True)
class Flag:
    fired: bool
    message: str

    def as_dict(self) -> dict:
        return {"fired": self.fired, "message": self.message}


def _as_list(values: float | Sequence[float]) -> list[float]:
    return [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]


def accuracy_not_monotone(eps: Sequence[float], acc: Sequence[float], tol: float = 0.01) -> Flag:
    """Accuracy should not rise with a larger budget: a bigger ball contains every smaller one."""
    pairs = sorted(zip(_as_list(eps), _as_list(acc)))
    rises = [(e0, a0, e1, a1) for (e0, a0), (e1, a1) in zip(pairs, pairs[1:]) if a1 > a0 + tol]
    if not rises:
        return Flag(False, "accuracy does not increase with eps")
    e0, a0, e1, a1 = rises[0]
    return Flag(True, f"accuracy rises with eps ({a0:.3f} at eps={e0:g} -> {a1:.3f} at eps={e1:g}): the attack is not finding the worst case")


def large_eps_not_broken(acc_at_large_eps: float, threshold: float = 0.05) -> Flag:
    """An attack with a budget covering the whole input box must reach (near) 0% accuracy."""
    if acc_at_large_eps > threshold:
        return Flag(True, f"accuracy {acc_at_large_eps:.3f} > {threshold:g} at a budget that should break every input: gradients may be masked")
    return Flag(False, f"accuracy {acc_at_large_eps:.3f} at a very large budget")


def covering_eps(box: tuple[float, float], norm: str, dims: int) -> float:
    """The smallest budget whose ball around any input covers the whole box: a sure break for a sound attack."""
    width = box[1] - box[0]
    return width if norm == "linf" else width * math.sqrt(dims)


def first_beaten(weaker: float | Sequence[float], stronger: float | Sequence[float], tol: float) -> tuple[int, float, float] | None:
    """The first budget where the attack that should be weaker leaves lower accuracy (beyond ``tol``)."""
    pairs = enumerate(zip(_as_list(weaker), _as_list(stronger)))
    return next(((i, w, s) for i, (w, s) in pairs if w < s - tol), None)


def one_step_stronger(fgsm_acc: float | Sequence[float], pgd_acc: float | Sequence[float], tol: float = 0.01) -> Flag:
    """An iterative attack should be at least as strong as one step, at every budget (same eps grid)."""
    beaten = first_beaten(fgsm_acc, pgd_acc, tol)
    if beaten is None:
        return Flag(False, "the iterative attack is at least as strong as the one-step attack")
    i, f, p = beaten
    return Flag(True, f"one-step attack beats the iterative one (accuracy {f:.3f} < {p:.3f} at budget #{i}): gradients may be masked or the step size is off")


def noise_stronger(noise_acc: float | Sequence[float], attack_acc: float | Sequence[float], tol: float = 0.01) -> Flag:
    """Random noise of the same budget should never beat a gradient attack."""
    beaten = first_beaten(noise_acc, attack_acc, tol)
    if beaten is None:
        return Flag(False, "the attack is stronger than random noise of the same budget")
    i, n, a = beaten
    return Flag(True, f"random noise beats the attack (accuracy {n:.3f} < {a:.3f} at budget #{i}): gradients are not informative")


def zero_gradient_fraction(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of examples whose input gradient of the loss is exactly zero (model mode untouched)."""
    with torch.inference_mode(False), torch.enable_grad():
        grad = input_gradient(model, x.detach().clone(), y.detach().clone())
    return float((grad.flatten(1) == 0).all(dim=1).float().mean())


def zero_gradients(fraction: float, threshold: float = 0.5) -> Flag:
    if fraction > threshold:
        return Flag(True, f"{fraction:.0%} of examples have an exactly zero input gradient: gradient attacks cannot move them")
    return Flag(False, f"{fraction:.0%} of examples have a zero input gradient")


def check_all(
    eps: Sequence[float],
    acc: Sequence[float],
    *,
    large_eps_acc: float | None = None,
    fgsm_acc: Sequence[float] | None = None,
    pgd_acc: Sequence[float] | None = None,
    noise_acc: Sequence[float] | None = None,
    zero_grad_fraction: float | None = None,
    tol: float = 0.01,
) -> dict[str, dict]:
    """The checks whose inputs are given, as ``{name: {"fired", "message"}}`` for a results JSON.

    ``acc`` is the evaluated attack's accuracy over ``eps``; ``noise_acc`` (same grid) is compared with it.
    """
    flags = {"accuracy_not_monotone": accuracy_not_monotone(eps, acc, tol)}
    if large_eps_acc is not None:
        flags["large_eps_not_broken"] = large_eps_not_broken(large_eps_acc)
    if fgsm_acc is not None and pgd_acc is not None:
        flags["one_step_stronger"] = one_step_stronger(fgsm_acc, pgd_acc, tol)
    if noise_acc is not None:
        flags["noise_stronger"] = noise_stronger(noise_acc, acc, tol)
    if zero_grad_fraction is not None:
        flags["zero_gradients"] = zero_gradients(zero_grad_fraction)
    return {name: flag.as_dict() for name, flag in flags.items()}


def fired(flags: dict[str, dict]) -> list[str]:
    """Messages of the flags that fired, for a console warning."""
    return [f"{name}: {flag['message']}" for name, flag in flags.items() if flag["fired"]]


class MaskingProbe:
    """Accumulates what ``check_all`` needs over at most ``limit`` examples.

    The evaluated attack's own curve cannot show non-monotone accuracy when examples already fooled
    are skipped (it is monotone by construction), so the probe re-runs the attack from scratch at
    every budget on its subset, next to the references: FGSM of the attack's norm (one step), the
    attack itself when it is iterative, else PGD with ``steps`` steps, and uniform noise. References
    average their gradients over as many samples as the attack (``gradient_samples``), so a model
    with randomness is judged on equal terms. The very-large-budget run always uses PGD with ``steps``
    steps of 2.5 * eps / steps at the budget whose ball covers the whole box (a configured absolute
    step size could not travel that far); unbounded inputs (spheres) skip that check: with no box, no
    budget makes every point of the other class reachable. Accuracy comparisons tolerate 1% or one
    example, whichever is more.
    """

    def __init__(self, attack: GradientAttack, eps: list[float], limit: int, steps: int) -> None:
        norm = getattr(attack, "norm", "linf")
        samples = attack.gradient_samples
        self.attack, self.eps, self.limit, self.norm = attack, eps, limit, norm
        self.curves: dict = {"attack": attack, "one_step": FGSM(norm=norm, gradient_samples=samples), "noise": UniformNoise(norm=norm)}
        self.large_eps = PGD(steps=steps, norm=norm, gradient_samples=samples)
        if not attack.iterative:
            self.curves["iterative"] = self.large_eps
        self.reset()

    def reset(self) -> None:
        self.seen = 0
        self.correct = {key: torch.zeros(len(self.eps), dtype=torch.float64) for key in self.curves}
        self.large_eps_correct = 0.0
        self.large_eps_checked = False
        self.zero_gradients = 0.0

    def update(self, model: nn.Module, x: Tensor, y: Tensor, box: tuple[float, float] | None) -> None:
        take = min(self.limit - self.seen, len(x))
        if take <= 0:
            return
        x, y = x[:take], y[:take]
        self.seen += take
        for key, attack in self.curves.items():
            for i, eps in enumerate(self.eps):
                x_adv = attack(model, x, y, eps=eps, box=box) if eps > 0 else x
                self.correct[key][i] += count_correct(model, x_adv, y)
        if box is not None:
            large = covering_eps(box, self.norm, x[0].numel())
            self.large_eps_correct += count_correct(model, self.large_eps(model, x, y, eps=large, box=box), y)
            self.large_eps_checked = True
        self.zero_gradients += zero_gradient_fraction(model, x, y) * take

    def totals(self) -> Tensor:
        """Everything counted, as one tensor that adds up over processes."""
        return torch.cat(
            [*self.correct.values(), torch.tensor([self.large_eps_correct, self.zero_gradients, self.seen, float(self.large_eps_checked)])]
        )

    def flags(self, totals: Tensor) -> tuple[dict[str, dict], int]:
        """(``{check: {fired, message}}``, examples checked) from ``totals`` summed over processes."""
        n = int(totals[-2])
        if n == 0:
            return {}, 0
        k = len(self.eps)
        acc = {key: (totals[j * k : (j + 1) * k] / n).tolist() for j, key in enumerate(self.correct)}
        flags = check_all(
            self.eps,
            acc["attack"],
            large_eps_acc=float(totals[-4]) / n if totals[-1] > 0 else None,
            fgsm_acc=acc["one_step"],
            pgd_acc=acc.get("iterative", acc["attack"]),
            noise_acc=acc["noise"],
            zero_grad_fraction=float(totals[-3]) / n,
            tol=max(0.01, 1.5 / n),  # on a small subset, one example either way is noise, not masking
        )
        return flags, n


def count_correct(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((predictions(model(x)) == y).sum())
