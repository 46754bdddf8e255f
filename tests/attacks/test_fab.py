"""FAB-T: breaks a linear model just beyond its exact boundary distance and not before, in any box, deterministic."""

import pytest
import torch

from advconf.attacks._applicability import NotApplicable
from advconf.attacks.fab import FABT
from advconf.errors import AdvconfError
from tests.attacks.aa_models import boundary_distance, centred_points, conv_model, images, linear_binary, own_labels


def fooled(model, x_adv, y) -> torch.Tensor:
    with torch.no_grad():
        return (model(x_adv)[:, 0] > 0).long() != y


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fab_t_finds_the_boundary_of_a_linear_model(norm):
    # A minimal-norm attack on a linear model: every point breaks with a budget just above its exact
    # distance to the boundary (|z| / ‖w‖ in the dual norm), none just below (no attack can).
    model = linear_binary()
    x, y = centred_points(model)
    distance = boundary_distance(model, x, norm)
    attack = FABT(norm=norm, steps=10)
    for factor, expected in ((1.05, True), (0.95, False)):
        for i, d in enumerate(distance):  # one point per call: each with its own budget
            point, label = x[i : i + 1], y[i : i + 1]
            assert fooled(model, attack(model, point, label, factor * float(d)), label).item() == expected


class Shifted(torch.nn.Module):
    """The same model on inputs shifted by ``offset``: box and points move, boundary distances stay."""

    def __init__(self, model: torch.nn.Module, offset: float) -> None:
        super().__init__()
        self.model, self.offset = model, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x - self.offset)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fab_t_works_in_a_box_other_than_the_unit_box(norm):
    model = linear_binary()
    x, y = centred_points(model)
    eps = 1.05 * float(boundary_distance(model, x, norm).max())
    shifted = Shifted(model, -0.5)
    x_adv = FABT(norm=norm, steps=10)(shifted, x - 0.5, y, eps, box=(-0.5, 0.5))
    assert fooled(shifted, x_adv, y).all()
    assert x_adv.min() >= -0.5 and x_adv.max() <= 0.5
    delta = (x_adv - (x - 0.5)).flatten(1)
    assert ((delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)) <= eps + 1e-6).all()


def test_fab_t_is_deterministic_and_ignores_the_generator():
    model = conv_model().eval()
    x = images(10)
    y = own_labels(model, x)
    attack = FABT(steps=5, targets=2)
    first = attack(model, x, y, 0.1)
    assert torch.equal(first, attack(model, x, y, 0.1, generator=torch.Generator().manual_seed(3)))


def test_fab_t_tries_only_the_classes_the_model_has():
    model = conv_model(classes=3).eval()
    x = images(6)
    y = own_labels(model, x)
    x_adv = FABT(steps=5, targets=9)(model, x, y, 0.2)  # 9 targets asked, 2 wrong classes exist
    assert x_adv.shape == x.shape


def test_fab_t_refuses_an_unbounded_input_space_in_one_line():
    model = linear_binary()
    x, y = centred_points(model)
    with pytest.raises(NotApplicable, match="FAB-T needs a bounded input box") as err:
        FABT()(model, x, y, 0.1, box=None)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs,match", [({"steps": 0}, "steps"), ({"targets": 0}, "targets"), ({"beta": 2.0}, "beta")]
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(AdvconfError, match=match):
        FABT(**kwargs)
