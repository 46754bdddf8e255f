"""Gradient-masking checks of a test-time attack run, on the first test examples (see ``advconf.masking``).

The evaluated attack's own curve cannot show non-monotone accuracy when examples already fooled are
skipped (it is monotone by construction), so the probe re-runs the attack from scratch at every
budget on its subset, next to the reference attacks the checks compare it with.
"""

from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from advconf.attacks import EOT, FGSM, PGD, GradientAttack, UniformNoise
from advconf.functional import predictions
from advconf.masking import check_all, covering_eps, zero_gradient_fraction


def is_gradient_attack(attack: Any) -> bool:
    return isinstance(attack, (GradientAttack, EOT))


def is_iterative(attack: Any) -> bool:
    return isinstance(attack.attack if isinstance(attack, EOT) else attack, PGD)


def like(attack: Any, reference: GradientAttack) -> Any:
    """``reference`` with the attack's EOT sampling, so a stochastic model is judged on equal terms."""
    return EOT(reference, attack.samples) if isinstance(attack, EOT) else reference


class MaskingProbe:
    """Accumulates what ``advconf.masking.check_all`` needs over the first ``limit`` test examples.

    One-step reference: FGSM of the attack's norm. Iterative reference: the attack itself when it is
    PGD, else PGD with ``steps``. The very-large-budget run always uses PGD with ``steps`` steps of
    2.5 * eps / steps, at the budget whose ball covers the whole box: a configured absolute step size
    could not travel that far. Unbounded inputs (spheres) skip that check: with no box, no budget
    makes every point of the other class reachable, so surviving examples do not suggest masking.
    Accuracy comparisons tolerate 1% or one example, whichever is more.
    """

    def __init__(self, attack: Any, eps: list[float], limit: int, steps: int) -> None:
        inner = attack.attack if isinstance(attack, EOT) else attack
        norm = getattr(inner, "norm", "linf")
        self.attack, self.eps, self.limit, self.norm = attack, eps, limit, norm
        self.curves: dict[str, Any] = {
            "attack": attack,
            "one_step": like(attack, FGSM(norm=norm)),
            "noise": UniformNoise(norm=norm),
        }
        self.large_eps = like(attack, PGD(steps=steps, norm=norm))
        if not is_iterative(attack):
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

    def flags(self, pl_module: LightningModule) -> tuple[dict[str, dict], int]:
        """(``{check: {fired, message}}``, examples checked), summed over all ranks."""
        totals = torch.cat([*self.correct.values(), torch.tensor([self.large_eps_correct, self.zero_gradients, self.seen])])
        if pl_module.trainer.world_size > 1:
            totals = pl_module.all_gather(totals.to(pl_module.device)).sum(dim=0).cpu()
        n = int(totals[-1])
        if n == 0:
            return {}, 0
        acc = {key: (totals[j * len(self.eps) : (j + 1) * len(self.eps)] / n).tolist() for j, key in enumerate(self.correct)}
        iterative = acc.get("iterative", acc["attack"])
        flags = check_all(
            self.eps,
            acc["attack"],
            large_eps_acc=float(totals[-3]) / n if self.large_eps_checked else None,
            fgsm_acc=acc["one_step"],
            pgd_acc=iterative,
            noise_acc=acc["noise"],
            zero_grad_fraction=float(totals[-2]) / n,
            tol=max(0.01, 1.5 / n),  # on a small subset, one example either way is noise, not masking
        )
        return flags, n


def count_correct(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((predictions(model(x)) == y).sum())
