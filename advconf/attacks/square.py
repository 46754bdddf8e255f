"""Square Attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box adversarial attack
via random search"), AutoAttack's fourth stage: no gradients, only the model's logits; L∞ and L2.

Engine: torchattacks' ``Square`` (a port of the reference ``fra31/auto-attack`` ``autoattack/square.py``)
with AutoAttack's settings: margin loss, 5,000 queries, ``p_init`` 0.8 and the square-size schedule
*not* rescaled to the query budget (the reference passes ``resc_schedule=False``; torchattacks'
default and its ``AutoAttack`` rescale it, halving every square-size phase at 5,000 queries).
Its random draws come from a private copy of the global RNG seeded from ``seed`` (or the caller's
generator), so the caller's RNG state is left alone and a seed gives the same result.
"""

import torch
import torchattacks
from torch import Tensor, nn

from advconf.attacks._applicability import require_box, require_classes, require_images
from advconf.attacks._first_break import first_break
from advconf.attacks._gradients import (
    Attack,
    Box,
    Norm,
    check_count,
    check_norm,
    check_positive,
    check_seed,
    clip_box,
    make_projection,
)
from advconf.attacks._torchattacks import (
    UnitBoxView,
    build,
    global_seed,
    private_global_rng,
)
from advconf.errors import AdvconfError
from advconf.functional import num_classes, predictions


class Square(Attack):
    """Random search over square-shaped updates of the perturbation; needs image inputs and a bounded box.

    Single-logit binary models are attacked as the two logits ``[0, z]``.

    Args:
        norm: ``linf`` or ``l2`` (L2 needs images of at least 5×5).
        queries: model queries per run (AutoAttack: 5,000).
        p_init: initial fraction of the image a square covers (AutoAttack: 0.8).
        restarts: runs, each on the examples no earlier run broke.
        seed: seed of the random search; a ``generator`` passed to the call replaces it.
    """

    name = "Square"
    uses_gradients = False

    def __init__(
        self,
        norm: Norm = "linf",
        queries: int = 5000,
        p_init: float = 0.8,
        restarts: int = 1,
        seed: int | None = 0,
    ) -> None:
        self.norm = check_norm(norm)
        self.queries = check_count("queries", queries)
        self.p_init = check_positive("p_init", p_init)
        if self.p_init > 1:
            raise AdvconfError(f"Square p_init is a fraction of the image and must be at most 1, got {p_init}")
        self.restarts = check_count("restarts", restarts)
        self.seed = check_seed(seed)

    def check_applicable(self, classes: int, box: Box, x: Tensor) -> None:
        """Raises ``NotApplicable`` (one line) on an unbounded input space or inputs that are not images."""
        require_classes(self.name, classes, 2, "")
        require_box(self.name, box)
        require_images(self.name, x, min_side=5 if self.norm == "l2" else 1)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        with torch.no_grad():  # query-based: no gradients anywhere
            logits = model(x)
            self.check_applicable(num_classes(logits), box, x)
            if eps == 0:
                return clip_box(x, box)
            view = UnitBoxView(model, box)
            square = build(
                torchattacks.Square, view, x.device, norm={"linf": "Linf", "l2": "L2"}[self.norm], eps=eps / view.scale,
                n_queries=self.queries, n_restarts=1, p_init=self.p_init, loss="margin", resc_schedule=False,
            )
            u = view.to_unit(x)
            square.init_hyperparam(u)

            def attempt(index: Tensor) -> Tensor:
                _, found = square.attack_single_run(u[index], y[index])
                return make_projection(x[index], eps, self.norm, box)(view.from_unit(found).to(x.dtype))

            with private_global_rng(global_seed(self.seed, generator)):
                return first_break(model, x, y, predictions(logits) == y, (attempt for _ in range(self.restarts)))
