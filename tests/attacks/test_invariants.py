"""Contract every attack keeps: budget, box, no parameter gradients, mode untouched, inference tensors, bad eps."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from advconf.attacks import FGSM, PGD, ConstantOffset, UniformNoise
from advconf.errors import AdvconfError
from tests.attacks.toys import held_out_points, trained_mlp

ATTACKS = {
    "fgsm": (FGSM(), "linf"),
    "fgm-l2": (FGSM(norm="l2"), "l2"),
    "pgd": (PGD(steps=5), "linf"),
    "pgd-l2": (PGD(steps=5, norm="l2", restarts=2), "l2"),
    "pgd-targeted": (PGD(steps=5, targeted=True), "linf"),
    "eot-pgd": (PGD(steps=3, gradient_samples=2), "linf"),
    "noise": (UniformNoise(), "linf"),
    "noise-l2": (UniformNoise(norm="l2"), "l2"),
    "offset": (ConstantOffset(), "linf"),
}
params = pytest.mark.parametrize("attack,norm", ATTACKS.values(), ids=ATTACKS.keys())


def conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(), nn.Linear(4 * 36, 3))


def images(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=generator), torch.randint(0, 3, (n,), generator=generator)


def distances(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)


@params
@pytest.mark.parametrize("eps", [0.0, 8 / 255, 0.3])
def test_output_respects_budget_and_box(attack, norm, eps):
    x, y = images()
    x_adv = attack(conv_model().eval(), x, y, eps)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (distances(x_adv, x, norm) <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


@params
def test_unbounded_box_allows_leaving_the_unit_box(attack, norm):
    model = trained_mlp()
    x, y = held_out_points(20)
    x = 3 * x - 1  # raw coordinates beyond [0, 1], as for spheres
    x_adv = attack(model, x, y, 0.5, box=None)
    assert (distances(x_adv, x, norm) <= 0.5 + 1e-5).all()
    assert x_adv.min() < 0 or x_adv.max() > 1
    assert not torch.equal(x_adv, x)


@params
@pytest.mark.parametrize("training", [True, False])
def test_mode_kept_and_no_parameter_gradients(attack, norm, training):
    model = conv_model().train(training)
    x, y = images()
    attack(model, x, y, 0.1)
    assert all(m.training == training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


@params
def test_works_on_inference_tensors_inside_inference_mode(attack, norm):
    model = conv_model().eval()
    with torch.inference_mode():
        x, y = images()
        x_adv = attack(model, x, y, 0.1)
    assert not x_adv.is_inference()
    assert (distances(x_adv, x, norm) <= 0.1 + 1e-5).all()


@params
@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference"])
def test_same_examples_in_every_grad_mode_which_is_left_as_it_was(attack, norm, mode):
    model = conv_model().eval()
    x, y = images()
    expected = attack(model, x, y, 0.1)
    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference": torch.inference_mode}[mode]
    with context():
        x_adv = attack(model, x, y, 0.1)
        assert torch.is_grad_enabled() == (mode == "grad")
        assert torch.is_inference_mode_enabled() == (mode == "inference")
    assert torch.equal(x_adv, expected)


@params
def test_inputs_are_not_modified(attack, norm):
    x, y = images()
    x_before, y_before = x.clone(), y.clone()
    attack(conv_model().eval(), x, y, 0.2)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)


@pytest.mark.parametrize("attack", [FGSM(), PGD(steps=2), UniformNoise(), FGSM(gradient_samples=2)], ids=type)
@pytest.mark.parametrize("eps", [-0.1, math.nan, math.inf, "0.1", None])
def test_bad_eps_raises(attack, eps):
    x, y = images()
    with pytest.raises(AdvconfError, match="eps"):
        attack(conv_model(), x, y, eps)


@pytest.mark.parametrize("box", [(1.0, 0.0), (0.0, math.nan), (0.0,), "01"])
def test_bad_box_raises(box):
    x, y = images()
    with pytest.raises(AdvconfError, match="box"):
        FGSM()(conv_model(), x, y, 0.1, box=box)


def test_single_logit_model_is_attacked_with_binary_loss():
    model = trained_mlp()
    binary = nn.Sequential(model, nn.Linear(2, 1))
    with torch.no_grad():
        # logit ∝ score of class 1 - score of class 0, scaled down so the sigmoid does not saturate
        binary[1].weight.copy_(torch.tensor([[-0.1, 0.1]]))
        binary[1].bias.zero_()
    x, y = held_out_points(50)
    x_adv = PGD(steps=20)(binary, x, y, 0.5)
    with torch.no_grad():
        assert ((binary(x_adv)[:, 0] > 0).long() != y).float().mean() > 0.9


def test_numpy_and_integer_budgets_are_accepted():
    x, y = images()
    model = conv_model().eval()
    assert (FGSM()(model, x, y, np.float32(0.25)) - x).abs().max() <= 0.25 + 1e-6
    assert (PGD(steps=2)(model, x, y, 1) - x).abs().max() <= 1


@pytest.mark.parametrize("seed", [True, 1.5, "0"])
def test_a_seed_that_is_not_an_integer_is_refused(seed):
    from advconf.attacks import PGD, UniformNoise
    from advconf.errors import AdvconfError

    for attack in (PGD, UniformNoise):
        with pytest.raises(AdvconfError, match="seed"):
            attack(seed=seed)
