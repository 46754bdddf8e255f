"""Concentric spheres (Gilmer et al. 2018): ``x = r·z/‖z‖``, ``z ~ N(0, I)``, inner r=1.0 (label 0), outer 1.3 (label 1).

The paper's Fig 5 uses the 2-D variant with two opposing quadrants removed from the training set,
while the test set covers the full circle, so the test measures how the decision boundary
extrapolates where there was no data.
"""

import math
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from advconf.data.resumable import InMemoryLoader, in_memory_loader, training_device
from advconf.errors import AdvconfError

Region = Literal["full", "half", "opposing_quadrants_removed"]


def sample_spheres(
    n: int, dim: int, radii: tuple[float, float], generator: torch.Generator, region: Region = "full"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points, half on each sphere, restricted to ``region`` of the first two coordinates' angle.

    ``half``: angle in [0, π) (x₂ ≥ 0). ``opposing_quadrants_removed``: the 2nd and 4th quadrants
    (angles in (π/2, π) and (3π/2, 2π)) are empty, so the 1st and 3rd remain.
    """
    y = torch.arange(n) % 2
    z = torch.randn(n, dim, generator=generator)
    if region != "full":
        # Rejection-free: redraw the angle of the first two coordinates inside the allowed region.
        norm12 = z[:, :2].norm(dim=1)
        u = torch.rand(n, generator=generator)
        if region == "half":
            angle = u * math.pi
        else:
            quadrant = torch.randint(0, 2, (n,), generator=generator) * 2  # 0 → 1st, 2 → 3rd quadrant
            angle = (u + quadrant) * (math.pi / 2)
        z[:, 0], z[:, 1] = norm12 * torch.cos(angle), norm12 * torch.sin(angle)
    r = torch.tensor(radii, dtype=z.dtype)[y]
    x = r[:, None] * z / z.norm(dim=1, keepdim=True)
    return x, y


def in_region(angles: torch.Tensor, region: Region) -> torch.Tensor:
    """Whether points at these angles (of the first two coordinates, in [0, 2π)) lie in ``region``:
    the rule ``sample_spheres`` draws from."""
    quadrant = torch.div(angles, math.pi / 2, rounding_mode="floor").long() % 4
    if region == "opposing_quadrants_removed":
        return (quadrant == 0) | (quadrant == 2)
    if region == "half":
        return quadrant < 2
    return torch.ones_like(angles, dtype=torch.bool)


class SpheresDataModule(LightningDataModule):
    """Synthetic concentric spheres in raw coordinates (no valid-input box: attacks are unbounded).

    Args:
        dim: dimension of the space (2 for the paper's Fig 5, 500 in Gilmer et al.).
        inner_radius: radius of class 0.
        outer_radius: radius of class 1.
        train_size: number of training points (fixed set, sampled once from ``seed``).
        val_size: number of validation points (full region, like the test set).
        test_size: number of test points (full region).
        train_region: where training points may lie: ``full``, ``half`` or ``opposing_quadrants_removed``.
        batch_size: batch size of every loader.
        seed: seed of the sampling; the same seed gives the same data sets.
    """

    input_box = None  # raw coordinates: attacks must not clip

    def __init__(
        self,
        dim: int = 2,
        inner_radius: float = 1.0,
        outer_radius: float = 1.3,
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 2000,
        train_region: Region = "opposing_quadrants_removed",
        batch_size: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if dim < 2:
            raise AdvconfError(f"spheres dim must be >= 2, got {dim}")
        if not 0 < inner_radius < outer_radius:
            raise AdvconfError(f"spheres radii must satisfy 0 < inner < outer, got {inner_radius}, {outer_radius}")
        for name, value in (("train_size", train_size), ("test_size", test_size), ("batch_size", batch_size)):
            if value < 1:
                raise AdvconfError(f"spheres {name} must be >= 1, got {value}")
        if val_size < 0:
            raise AdvconfError(f"spheres val_size must be >= 0, got {val_size}")
        self.dim, self.radii = dim, (inner_radius, outer_radius)
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.train_region, self.batch_size, self.seed = train_region, batch_size, seed
        self.num_classes = 2
        self.input_shape = (dim,)
        self.datasets: dict[str, TensorDataset] = {}

    def in_training_region(self, angles: torch.Tensor) -> torch.Tensor:
        """Whether the training set has points at these angles of the first two coordinates."""
        return in_region(angles, self.train_region)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        generator = torch.Generator().manual_seed(self.seed)
        for split, n in self.sizes.items():
            region = self.train_region if split == "train" else "full"
            self.datasets[split] = TensorDataset(*sample_spheres(n, self.dim, self.radii, generator, region))

    def train_dataloader(self) -> InMemoryLoader:
        # The order depends only on (seed, epoch), so a mid-epoch checkpoint resumes exactly.
        x, y = (t.to(training_device(self)) for t in self.datasets["train"].tensors)
        return in_memory_loader(self, lambda index: [x.index_select(0, index), y.index_select(0, index)], len(y), drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.datasets["val"], batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.datasets["test"], batch_size=self.batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
