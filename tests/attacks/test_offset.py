"""Constant offset: exact against the closed form on a mean-intensity classifier."""

import math

import pytest
import torch
from torch import Tensor, nn

from advconf.attacks import ConstantOffset
from advconf.errors import AdvconfError


class MeanIntensity(nn.Module):
    """Class 1 when the mean pixel value exceeds 0.5."""

    def forward(self, x: Tensor) -> Tensor:
        m = x.flatten(1).mean(dim=1, keepdim=True)
        return torch.cat([0.5 - m, m - 0.5], dim=1) * 10


def flat_images() -> tuple[Tensor, Tensor]:
    levels = torch.linspace(0.05, 0.95, 10)
    x = levels.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()
    return x, (levels > 0.5).long()


@pytest.mark.parametrize("offset", [-0.6, -0.2, 0.0, 0.1, 0.3, 2.0])
def test_offset_matches_closed_form(offset):
    x, y = flat_images()
    x_adv = ConstantOffset()(MeanIntensity(), x, y, offset)
    expected = torch.clamp(x + offset, 0.0, 1.0)
    assert torch.equal(x_adv, expected)
    predicted = MeanIntensity()(x_adv).argmax(dim=1)
    assert torch.equal(predicted, (expected[:, 0, 0, 0] > 0.5).long())


def test_positive_offset_adds_and_negative_offset_subtracts_the_magnitude():
    x, y = flat_images()
    out = {"added": ConstantOffset()(MeanIntensity(), x, y, 0.3), "subtracted": ConstantOffset()(MeanIntensity(), x, y, -0.3)}
    assert torch.equal(out["added"], torch.clamp(x + 0.3, 0, 1))
    assert torch.equal(out["subtracted"], torch.clamp(x - 0.3, 0, 1))
    # Brightening fools only dark images and darkening only bright ones.
    model = MeanIntensity()
    assert torch.equal(model(out["added"]).argmax(dim=1) != y, (x[:, 0, 0, 0] > 0.2) & (y == 0))
    assert torch.equal(model(out["subtracted"]).argmax(dim=1) != y, (x[:, 0, 0, 0] <= 0.8) & (y == 1))


def test_unbounded_box_does_not_clip():
    x, y = flat_images()
    assert torch.equal(ConstantOffset()(MeanIntensity(), x, y, 2.0, box=None), x + 2.0)


@pytest.mark.parametrize("offset", [math.nan, math.inf, "0.1"])
def test_non_finite_offset_raises(offset):
    x, y = flat_images()
    with pytest.raises(AdvconfError, match="offset"):
        ConstantOffset()(MeanIntensity(), x, y, offset)

