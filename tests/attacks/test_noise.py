"""Uniform noise baseline: exact budget, box, seeding."""

import torch

from advconf.attacks import UniformNoise
from tests.attacks.toys import held_out_points, trained_mlp


def test_l2_noise_has_exactly_the_budget_length():
    x = torch.rand(16, 3, 4, 4)
    x_adv = UniformNoise(norm="l2")(trained_mlp(), x, torch.zeros(16).long(), 0.5, box=None)
    torch.testing.assert_close((x_adv - x).flatten(1).norm(dim=1), torch.full((16,), 0.5))


def test_linf_noise_fills_the_ball_with_both_signs():
    x = torch.zeros(4, 1000)
    delta = UniformNoise()(trained_mlp(), x, torch.zeros(4).long(), 0.1, box=None) - x
    assert delta.abs().max() <= 0.1
    assert delta.min() < -0.09 and delta.max() > 0.09
    assert abs(float(delta.mean())) < 0.01


def test_seeded_noise_is_reproducible():
    model = trained_mlp()
    x, y = held_out_points(20)
    assert torch.equal(UniformNoise(seed=1)(model, x, y, 0.1), UniformNoise(seed=1)(model, x, y, 0.1))
    assert not torch.equal(UniformNoise(seed=1)(model, x, y, 0.1), UniformNoise(seed=2)(model, x, y, 0.1))
