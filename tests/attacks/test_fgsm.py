"""FGSM/FGM against the closed form on linear models."""

import pytest
import torch
from torch import nn

from advconf.attacks import FGSM, PGD
from advconf.errors import AdvconfError
from tests.attacks.toys import held_out_points, trained_mlp


def linear(weight: torch.Tensor) -> nn.Linear:
    model = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.fill_(0.1)
    return model


def closed_form_step(direction: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """The loss-increasing step of size eps along a per-example linear direction."""
    if norm == "linf":
        return eps * direction.sign()
    return eps * direction / direction.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_single_logit_linear_model_matches_closed_form(norm):
    torch.manual_seed(0)
    w = torch.randn(1, 10)
    x, y = torch.randn(8, 10), torch.tensor([0, 1] * 4)
    # BCE gradient is (sigmoid(z) - y) w: it points along +w for y = 0 and -w for y = 1.
    direction = w * (1 - 2 * y[:, None].float())
    x_adv = FGSM(norm=norm)(linear(w), x, y, 0.3, box=None)
    torch.testing.assert_close(x_adv, x + closed_form_step(direction, norm, 0.3))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_two_logit_linear_model_matches_closed_form(norm):
    torch.manual_seed(0)
    w = torch.randn(2, 10)
    x, y = torch.randn(8, 10), torch.tensor([0, 1] * 4)
    # Cross-entropy gradient for label y is p_other (w_other - w_y).
    direction = w[1 - y] - w[y]
    x_adv = FGSM(norm=norm)(linear(w), x, y, 0.3, box=None)
    torch.testing.assert_close(x_adv, x + closed_form_step(direction, norm, 0.3))


def test_targeted_step_moves_toward_the_target():
    torch.manual_seed(0)
    w = torch.randn(2, 10)
    x, target = torch.randn(8, 10), torch.tensor([0, 1] * 4)
    x_adv = FGSM(targeted=True)(linear(w), x, target, 0.3, box=None)
    torch.testing.assert_close(x_adv, x + 0.3 * (w[target] - w[1 - target]).sign())


def test_output_is_clipped_to_the_box():
    w = torch.ones(1, 4)
    x, y = torch.tensor([[0.0, 0.5, 0.95, 1.0]]), torch.tensor([0])
    x_adv = FGSM()(linear(w), x, y, 0.1, box=(0.0, 1.0))
    torch.testing.assert_close(x_adv, torch.tensor([[0.1, 0.6, 1.0, 1.0]]))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fgsm_equals_one_pgd_step_of_size_eps_without_random_start(norm):
    model = trained_mlp()
    x, y = held_out_points(50)
    pgd = PGD(steps=1, step_size=0.2, random_start=False, norm=norm)
    torch.testing.assert_close(FGSM(norm=norm)(model, x, y, 0.2), pgd(model, x, y, 0.2))


@pytest.mark.parametrize("kwargs", [{"norm": "l1"}, {"norm": "Linf"}])
def test_bad_constructor_args_raise(kwargs):
    with pytest.raises(AdvconfError, match="norm"):
        FGSM(**kwargs)
