"""`DecisionBoundary`: paper Fig 5 — where a 2-D spheres classifier puts its boundary, and how round it stays
where training data was missing."""

import math
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from matplotlib.figure import Figure
from torch import nn

from advconf.errors import AdvconfError
from advconf.functional import probabilities
from advconf.plots import decision_boundary_figure
from advconf.results import log_image, results_dir, save_figure, write_csv, write_json


def outer_probability(model: nn.Module, xy: torch.Tensor, dim: int) -> torch.Tensor:
    """p(outer sphere) at points of the plane of the first two coordinates (the rest zero)."""
    x = torch.zeros(len(xy), dim, device=xy.device)
    x[:, :2] = xy
    return probabilities(model(x))[:, 1]


def boundary_radii(model: nn.Module, angles: torch.Tensor, dim: int, r_max: float = 2.0, steps: int = 40) -> torch.Tensor:
    """Radius along each ray where p(outer) = 0.5, by bisection on [0, r_max]; NaN where p(outer) does
    not go from below 0.5 at the origin to above it at r_max."""
    direction = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    lo, hi = torch.zeros_like(angles), torch.full_like(angles, r_max)
    crosses = (outer_probability(model, direction * lo[:, None], dim) < 0.5) & (
        outer_probability(model, direction * hi[:, None], dim) >= 0.5
    )
    for _ in range(steps):
        mid = (lo + hi) / 2
        outer = outer_probability(model, direction * mid[:, None], dim) >= 0.5
        hi, lo = torch.where(outer, mid, hi), torch.where(outer, lo, mid)
    return torch.where(crosses, (lo + hi) / 2, torch.full_like(angles, math.nan))


def radius_spread(radii: torch.Tensor) -> dict[str, Any]:
    """Mean and std of the boundary radius, and their ratio (0 for a perfect circle)."""
    found = radii[~radii.isnan()]
    mean = found.mean().item() if len(found) else math.nan
    std = found.std(unbiased=False).item() if len(found) else math.nan
    return {"mean_radius": mean, "std_radius": std, "std_over_mean": std / mean, "angles": len(radii),
            "angles_without_boundary": int(radii.isnan().sum())}


def plot(model: nn.Module, dim: int, x: torch.Tensor, y: torch.Tensor, radii: tuple[float, ...], extent: float, title: str) -> Figure:
    device = next(model.parameters()).device
    grid = torch.linspace(-extent, extent, 201)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    plane = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(device)
    p = outer_probability(model, plane, dim).view(gx.shape).cpu()
    return decision_boundary_figure(grid, p, x, y, radii, title)


class DecisionBoundary(Callback):
    """At the end of `test`, plot p(outer) over the plane with the training points and measure the
    boundary radius along `num_angles` rays. Writes `results/decision_boundary.{png,json,csv}` and
    logs the picture to W&B.

    The circularity number is std/mean of the radius, over the angles inside the quadrants that had
    no training data and over those that had (the spheres data module's `train_region`).

    Args:
        num_angles: rays, evenly spaced and never on a quadrant edge.
        r_max: the bisection searches [0, r_max] (2.0 covers both circles of radius 1.0 and 1.3).
        max_points: training points drawn in the picture.
    """

    def __init__(self, num_angles: int = 360, r_max: float = 2.0, max_points: int = 2000) -> None:
        self.num_angles = num_angles
        self.r_max = r_max
        self.max_points = max_points

    def training_points(self, trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys, n = [], [], 0
        for x, y, *_ in trainer.datamodule.train_dataloader():
            xs.append(x)
            ys.append(y)
            n += len(x)
            if n >= self.max_points:
                break
        return torch.cat(xs)[: self.max_points], torch.cat(ys)[: self.max_points]

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = trainer.datamodule
        region = getattr(data, "train_region", "full")
        if not hasattr(data, "in_training_region"):
            raise AdvconfError(f"DecisionBoundary draws 2-D spheres data; {type(data).__name__} has no training region to compare")
        dim = data.input_shape[0]
        angles = (torch.arange(self.num_angles, device=pl_module.device) + 0.5) * (2 * math.pi / self.num_angles)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            radii = boundary_radii(pl_module, angles, dim, self.r_max).cpu()
            angles = angles.cpu()
            inside = data.in_training_region(angles).cpu()
            summary = {
                "train_region": region,
                "r_max": self.r_max,
                "removed_quadrants": radius_spread(radii[~inside]),
                "supported_quadrants": radius_spread(radii[inside]),
                "model_settings": getattr(pl_module, "settings", {}),
            }
            x, y = self.training_points(trainer)
            title = (
                f"std/mean of boundary radius: removed {summary['removed_quadrants']['std_over_mean']:.3f}, "
                f"supported {summary['supported_quadrants']['std_over_mean']:.3f}"
            )
            fig = plot(pl_module, dim, x, y, getattr(data, "radii", ()), self.r_max, title)
        pl_module.train(was_training)
        out = results_dir(trainer)
        write_json(out / "decision_boundary.json", summary)
        rows = [{"angle": a, "radius": r, "supported": s} for a, r, s in zip(angles.tolist(), radii.tolist(), inside.tolist())]
        write_csv(out / "decision_boundary.csv", rows)
        save_figure(fig, out / "decision_boundary.png")
        log_image(trainer, "decision_boundary", out / "decision_boundary.png")
