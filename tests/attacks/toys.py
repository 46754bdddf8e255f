"""Tiny models shared by the attack, metric and masking tests (CPU, well under a second each)."""

import copy
import functools

import torch
from torch import Tensor, nn

from advconf.functional import predictions


def toy_data(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """2-D points in the unit box, class 1 above the anti-diagonal x0 + x1 = 1."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=generator)
    return x, (x.sum(dim=1) > 1).long()


@functools.lru_cache(maxsize=1)
def _trained_mlp() -> nn.Module:
    # Own RNG state, and gradients on even if the first caller is under no_grad / inference_mode.
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
        x, y = toy_data(512, seed=1)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(300):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model.eval()


def trained_mlp() -> nn.Module:
    """A normal, well-trained 2-class MLP on the toy task (a fresh copy: tests may change its mode)."""
    return copy.deepcopy(_trained_mlp())


def held_out_points(n: int = 200) -> tuple[Tensor, Tensor]:
    """Held-out toy points the trained MLP classifies correctly."""
    x, y = toy_data(n, seed=2)
    with torch.no_grad():
        keep = _trained_mlp()(x).argmax(dim=1) == y
    return x[keep], y[keep]


class Quantized(nn.Module):
    """Hard-rounds the input before the model, with no straight-through gradient: input gradients are zero."""

    def __init__(self, model: nn.Module, levels: int = 4) -> None:
        super().__init__()
        self.model, self.levels = model, levels

    def forward(self, x: Tensor) -> Tensor:
        return self.model(torch.round(x * self.levels) / self.levels)


class InputDropout(nn.Module):
    """A linear model behind strong input dropout: each pass sees a random tenth of the input."""

    def __init__(self, weight: Tensor, p: float = 0.9) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p)
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.dropout(x.flatten(1)))


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((predictions(model(x)) == y).float().mean())


class Overshoot(nn.Module):
    """1-D single-logit model whose loss has a local maximum at x = 0.2 and a wrong-class band 0.49..0.96.

    From x ≈ 0.1 a big FGSM step lands in the wrong band at eps 0.45 but past it at eps 0.9, and
    small PGD steps stall at the local maximum: accuracy rises with eps and one step beats many.
    """

    def forward(self, x: Tensor) -> Tensor:
        f = (x - 0.2).abs() + 0.1 - 10 * torch.relu(x - 0.45) + 20 * torch.relu(x - 0.75)
        return 10 * f


def overshoot_points() -> tuple[Tensor, Tensor]:
    return torch.linspace(0.08, 0.12, 20).view(-1, 1), torch.ones(20).long()
