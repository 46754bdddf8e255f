"""Square: the reference's settings, sound on a linear model, any box by exact rescaling, own RNG, clear refusals."""

import pytest
import torch
import torchattacks
from torch import nn

from advconf.attacks._applicability import NotApplicable
from advconf.attacks.square import Square
from advconf.errors import AdvconfError
from tests.attacks.aa_models import boundary_distance, centred_points, conv_model, images, linear_binary, own_labels


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
def test_square_matches_autoattacks_settings(norm, eps):
    """Same verdicts as the reference port run with AutoAttack's settings (margin loss, p_init 0.8, schedule not
    rescaled to the query budget), same seed; torchattacks used only as an oracle."""
    model = conv_model().eval()
    x = images(30)
    y = own_labels(model, x)
    reference = torchattacks.Square(
        model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, n_queries=100, p_init=0.8, loss="margin",
        resc_schedule=False, seed=5,
    )
    with torch.no_grad():
        expected = model(reference.perturb(x, y)).argmax(dim=1) != y
        broken = model(Square(norm=norm, queries=100, seed=5)(model, x, y, eps)).argmax(dim=1) != y
    assert 0 < broken.sum() < len(x)
    assert torch.equal(broken, expected)


def test_square_never_breaks_a_point_beyond_its_budget_and_breaks_it_with_room():
    model = linear_binary()
    x, y = centred_points(model)
    distance = boundary_distance(model, x, "linf")
    for factor, expected, attack in ((0.95, False, Square(queries=30)), (3.0, True, Square(queries=300))):
        for i, d in enumerate(distance):
            point, label = x[i : i + 1], y[i : i + 1]
            with torch.no_grad():
                fooled = (model(attack(model, point, label, factor * float(d)))[:, 0] > 0).long() != label
            assert fooled.item() == expected


class Scaled(nn.Module):
    """The same model reading inputs in [0, 255]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x / 255)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_a_box_other_than_the_unit_box_is_an_exact_rescaling(norm):
    model = conv_model().eval()
    x = images(12)
    y = own_labels(model, x)
    eps = 0.05 if norm == "linf" else 0.5
    attack = Square(norm=norm, queries=50)
    unit = attack(model, x, y, eps)
    pixels = attack(Scaled(model), 255 * x, y, 255 * eps, box=(0.0, 255.0))
    assert torch.allclose(pixels, 255 * unit, atol=1e-3)
    assert pixels.min() >= 0 and pixels.max() <= 255


def test_seed_reproduces_generator_replaces_it_and_the_global_rng_is_left_alone():
    model = conv_model().eval()
    x = images(8)
    y = own_labels(model, x)
    state = torch.get_rng_state()
    attack = Square(queries=30, seed=1)
    first, again = attack(model, x, y, 0.1), attack(model, x, y, 0.1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, again)
    drawn = [attack(model, x, y, 0.1, generator=torch.Generator().manual_seed(s)) for s in (2, 2, 3)]
    assert torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[0], drawn[2])


@pytest.mark.parametrize(
    "norm,x,box,message",
    [
        ("linf", images(4), None, "needs a bounded input box"),
        ("linf", torch.rand(4, 16), (0.0, 1.0), r"needs image inputs \(N, C, H, W\)"),
        ("l2", images(4, shape=(1, 4, 4)), (0.0, 1.0), "sides of at least 5"),
    ],
)
def test_square_refuses_what_it_cannot_attack_in_one_line(norm, x, box, message):
    model = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), 3))
    with pytest.raises(NotApplicable, match=message) as err:
        Square(norm=norm)(model, x, own_labels(model, x), 0.1, box=box)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs,match", [({"queries": 0}, "queries"), ({"p_init": 1.5}, "p_init"), ({"seed": 1.5}, "seed")]
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(AdvconfError, match=match):
        Square(**kwargs)
