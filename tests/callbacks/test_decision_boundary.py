"""DecisionBoundary: boundary radius by bisection, circularity per region, files written at test end."""

import json
import math

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from advconf.callbacks.decision_boundary import DecisionBoundary, boundary_radii, radius_spread
from advconf.data.spheres import SpheresDataModule
from advconf.models import MLP
from advconf.module import Classifier


class RadialModel(nn.Module):
    """Logit of 'outer' = k·(‖x‖ − radius(θ)): the boundary is exactly radius(θ)."""

    def __init__(self, radius) -> None:
        super().__init__()
        self.radius = radius
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.atan2(x[:, 1], x[:, 0])
        logit = self.scale * (x.norm(dim=1) - self.radius(theta))
        return torch.stack([-logit, logit], dim=1) / 2


def test_bisection_finds_the_radius_along_each_ray():
    model = RadialModel(lambda t: 1.0 + 0.2 * torch.cos(t))
    angles = torch.linspace(0.1, 6.0, 7)
    torch.testing.assert_close(boundary_radii(model, angles, dim=2), 1.0 + 0.2 * torch.cos(angles), atol=1e-5, rtol=0)


def test_no_crossing_inside_r_max_gives_nan():
    radii = boundary_radii(RadialModel(lambda t: torch.full_like(t, 3.0)), torch.tensor([0.5]), dim=2)
    assert radii.isnan().all()
    assert radius_spread(radii)["angles_without_boundary"] == 1


def test_circle_has_zero_spread_and_ellipse_does_not():
    angles = torch.linspace(0, 2 * math.pi, 100)
    assert radius_spread(torch.full((100,), 1.15))["std_over_mean"] == pytest.approx(0.0)
    assert radius_spread(1.15 + 0.1 * torch.cos(2 * angles))["std_over_mean"] > 0.05


def test_writes_picture_and_circularity_numbers_at_test_end(tmp_path):
    torch.manual_seed(0)
    module = Classifier(MLP(in_features=2, num_outputs=2, depth=1, width=8), num_classes=2)
    data = SpheresDataModule(train_size=200, val_size=0, test_size=50, batch_size=50)
    trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[DecisionBoundary(num_angles=36, max_points=100)])
    trainer.test(module, data, verbose=False)
    results = tmp_path / "results"
    summary = json.loads((results / "decision_boundary.json").read_text())
    assert summary["train_region"] == "opposing_quadrants_removed"
    assert summary["removed_quadrants"]["angles"] == summary["supported_quadrants"]["angles"] == 18
    assert (results / "decision_boundary.png").stat().st_size > 1000
    assert len((results / "decision_boundary.csv").read_text().splitlines()) == 37
