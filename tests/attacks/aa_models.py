"""Small models and data for the AutoAttack tests (APGD, FAB-T, Square, the cascade): CPU, well under a second each."""

import copy
import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advconf.data.mnist import read_idx


def conv_model(classes: int = 5, seed: int = 0) -> nn.Module:
    """An untrained conv net on 1×8×8 images with batch norm and dropout (so train/eval mode matters)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(), nn.Linear(4 * 36, classes)
    )


def images(n: int = 8, seed: int = 1, shape: tuple[int, ...] = (1, 8, 8)) -> Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def own_labels(model: nn.Module, x: Tensor) -> Tensor:
    """The model's own predictions: every example starts correctly classified."""
    with torch.no_grad():
        return model(x).argmax(dim=1)


class TwoLogits(nn.Module):
    """A single-logit model written out as the two logits [0, z] (same softmax, same prediction)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        z = self.model(x)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def linear_binary(dims: int = 16, seed: int = 0) -> nn.Module:
    """A single-logit linear model on flattened 1×4×4 images; its distance to the boundary is analytic."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(dims, 1))
    with torch.no_grad():
        model[1].weight.normal_()
        model[1].bias.copy_(-0.5 * model[1].weight.sum())  # boundary through the centre of the unit box
    return model.eval()


def centred_points(model: nn.Module, n: int = 12, low: float = 0.4, high: float = 0.6) -> tuple[Tensor, Tensor]:
    """Points well inside the unit box (so the box never binds at small budgets) with the model's own labels."""
    generator = torch.Generator().manual_seed(5)
    x = low + (high - low) * torch.rand(n, 1, 4, 4, generator=generator)
    with torch.no_grad():
        y = (model(x)[:, 0] > 0).long()
    return x, y


def boundary_distance(model: nn.Module, x: Tensor, norm: str) -> Tensor:
    """Exact distance of each point to a linear model's boundary: |z| / ‖w‖ in the dual norm."""
    with torch.no_grad():
        weight = model[1].weight.flatten()
        return model(x)[:, 0].abs() / (weight.abs().sum() if norm == "linf" else weight.norm())


def fashion_mnist(directory: Path, train: bool, limit: int) -> tuple[Tensor, Tensor]:
    prefix = "train" if train else "t10k"
    x = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz")[:limit].float().div(255).unsqueeze(1)
    y = read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz")[:limit].long()
    return x, y


@functools.lru_cache(maxsize=1)
def _fashion_mlp(directory: Path) -> nn.Module:
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        torch.manual_seed(0)
        x, y = fashion_mnist(directory, train=True, limit=6000)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(200):
            index = torch.randint(0, len(x), (128,))
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model.eval()


def fashion_mlp(directory: Path) -> nn.Module:
    """A 10-class MLP trained for 200 Adam steps on 6,000 Fashion-MNIST images (about 80% test accuracy)."""
    return copy.deepcopy(_fashion_mlp(directory))
