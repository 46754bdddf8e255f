"""PGD: strength against FGSM, restarts, targeted mode, step-size rules, seeding, argument checks."""

import pytest
import torch
from torch import nn

from advconf.attacks import FGSM, PGD
from advconf.errors import AdvconfError
from advconf.functional import classification_loss
from tests.attacks.toys import accuracy, held_out_points, trained_mlp


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("linf", 0.2), ("l2", 0.15)])
def test_pgd_at_least_as_strong_as_fgsm_on_a_trained_model(norm, eps):
    model = trained_mlp()
    x, y = held_out_points()
    fgsm_acc = accuracy(model, FGSM(norm=norm)(model, x, y, eps), y)
    pgd_acc = accuracy(model, PGD(steps=20, norm=norm)(model, x, y, eps), y)
    assert pgd_acc <= fgsm_acc
    assert pgd_acc < 0.9  # the budget is large enough to matter on this task


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_restarts_never_worse_than_the_first_run(norm):
    model = trained_mlp()
    x, y = held_out_points()
    attacks = {n: PGD(steps=3, rel_step_size=0.5, norm=norm, restarts=n, seed=3) for n in (1, 4)}
    with torch.no_grad():
        results = {}
        for n, attack in attacks.items():
            logits = model(attack(model, x, y, 0.12))
            results[n] = (logits.argmax(dim=1) != y, classification_loss(logits, y, reduction="none"))
    (fooled_1, loss_1), (fooled_4, loss_4) = results[1], results[4]
    assert (fooled_4 >= fooled_1).all()
    same = fooled_4 == fooled_1
    assert (loss_4[same] >= loss_1[same] - 1e-5).all()


def test_targeted_pgd_reaches_the_targets_on_an_easy_model():
    model = nn.Linear(8, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(5 * torch.eye(3, 8))  # class k is read from pixel k alone
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(30, 8, generator=generator), torch.randint(0, 3, (30,), generator=generator)
    targets = (y + 1) % 3
    x_adv = PGD(steps=20, targeted=True)(model, x, targets, 0.6)
    assert torch.equal(model(x_adv).argmax(dim=1), targets)


def test_same_seed_gives_same_result_and_global_rng_is_untouched():
    model = trained_mlp()
    x, y = held_out_points(30)
    rng = torch.get_rng_state()
    # one small step, so the random start still shows in the result
    first, second = (PGD(steps=1, step_size=0.01, restarts=2, seed=7)(model, x, y, 0.1) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(first, second)
    assert not torch.equal(first, PGD(steps=1, step_size=0.01, restarts=2, seed=8)(model, x, y, 0.1))


def test_zero_eps_returns_the_input():
    x, y = held_out_points(10)
    assert torch.equal(PGD(steps=3)(trained_mlp(), x, y, 0.0), x)


def test_step_size_rules():
    assert PGD(steps=40, step_size=0.01).step_size_for(0.3) == 0.01
    assert PGD(rel_step_size=0.25).step_size_for(8 / 255) == pytest.approx(2 / 255)
    assert PGD(steps=50).step_size_for(0.3) == pytest.approx(2.5 * 0.3 / 50)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"step_size": -0.1}, "step_size"),
        ({"step_size": float("nan")}, "step_size"),
        ({"step_size": 0.1, "rel_step_size": 0.1}, "either"),
        ({"norm": "l1"}, "norm"),
        ({"restarts": 0}, "restarts"),
        ({"restarts": 3, "random_start": False}, "random_start"),
    ],
)
def test_bad_constructor_args_raise(kwargs, message):
    with pytest.raises(AdvconfError, match=message):
        PGD(**kwargs)
