"""torchattacks (3.5) as the engine of FAB-T and Square, behind advconf's attack contract.

torchattacks assumes inputs in [0, 1] and K logits, draws from (and reseeds) torch's global RNG,
and its ``Attack.__call__`` switches the model to eval mode. So advconf never calls it through
``__call__``: it calls the attacks' single runs on a view of the model from the unit box, with the
global RNG forked, and projects the result back onto the caller's eps-ball and box.
"""

import contextlib
import io
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class UnitBoxView(nn.Module):
    """The model seen from [0, 1]: an input ``u`` is the point ``low + (high - low) * u``; a single logit ``z``
    becomes the two logits ``[0, z]`` (same softmax, same prediction). L∞ and L2 distances scale by
    ``high - low``, so a budget ``eps`` is ``eps / (high - low)`` in the view."""

    def __init__(self, model: nn.Module, box: tuple[float, float]) -> None:
        super().__init__()
        self.model = model
        self.low, self.scale = box[0], box[1] - box[0]
        self.identity = tuple(box) == (0.0, 1.0)  # the usual case: no arithmetic, no rounding

    def to_unit(self, x: Tensor) -> Tensor:
        return x if self.identity else (x - self.low) / self.scale

    def from_unit(self, u: Tensor) -> Tensor:
        return u if self.identity else self.low + self.scale * u

    def forward(self, u: Tensor) -> Tensor:
        logits = self.model(self.from_unit(u))
        if logits.shape[1] == 1:
            return torch.cat([torch.zeros_like(logits), logits], dim=1)
        return logits


def build(attack_class: type, view: UnitBoxView, device: torch.device, **kwargs) -> object:
    # torchattacks prints a warning to stdout when the model has no parameters to take a device from.
    with contextlib.redirect_stdout(io.StringIO()):
        attack = attack_class(view, **kwargs)
    attack.device = device
    return attack


def global_seed(seed: int | None, generator: torch.Generator | None) -> int:
    """The seed for torchattacks' global-RNG draws: the attack's own, or one drawn from the caller's generator."""
    if generator is None and seed is not None:
        return seed
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    return int(torch.randint(2**62, (1,), generator=generator))


@contextlib.contextmanager
def private_global_rng(seed: int) -> Iterator[None]:
    """torchattacks draws from torch's global CPU RNG: give it a seeded copy and restore the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield
