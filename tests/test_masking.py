"""Gradient-masking flags: each fires on a model built to fool gradient attacks and stays quiet on a normal one."""

import json

import pytest
import torch
from torch import Tensor, nn

from advconf.attacks import FGSM, PGD, UniformNoise
from advconf.masking import (
    accuracy_not_monotone,
    check_all,
    covering_eps,
    fired,
    large_eps_not_broken,
    noise_stronger,
    one_step_stronger,
    zero_gradient_fraction,
    zero_gradients,
)
from tests.attacks.toys import (
    Overshoot,
    Quantized,
    accuracy,
    held_out_points,
    overshoot_points,
    trained_mlp,
)

EPS = [0.0, 0.05, 0.1, 0.2, 0.3]


def curve(attack, model: nn.Module, x: Tensor, y: Tensor, eps: list[float]) -> list[float]:
    return [accuracy(model, attack(model, x, y, e), y) for e in eps]


def evaluate(model: nn.Module, x: Tensor, y: Tensor, attack) -> dict[str, dict]:
    """What an evaluation callback would gather for ``attack``, checked."""
    return check_all(
        EPS,
        curve(attack, model, x, y, EPS),
        large_eps_acc=accuracy(model, PGD(steps=20)(model, x, y, covering_eps((0.0, 1.0), "linf", 2)), y),
        fgsm_acc=curve(FGSM(), model, x, y, EPS),
        pgd_acc=curve(PGD(steps=10), model, x, y, EPS),
        noise_acc=curve(UniformNoise(), model, x, y, EPS),
        zero_grad_fraction=zero_gradient_fraction(model, x, y),
    )


def test_all_flags_quiet_on_a_normal_trained_model():
    x, y = held_out_points()
    flags = evaluate(trained_mlp(), x, y, PGD(steps=10))
    assert set(flags) == {"accuracy_not_monotone", "large_eps_not_broken", "one_step_stronger", "noise_stronger", "zero_gradients"}
    assert fired(flags) == []


def test_quantized_input_layer_fires_zero_gradient_large_eps_and_noise_flags():
    model = Quantized(trained_mlp())
    x, y = held_out_points()
    assert zero_gradient_fraction(model, x, y) == 1.0
    flags = evaluate(model, x, y, FGSM())
    for name in ("zero_gradients", "large_eps_not_broken", "noise_stronger"):
        assert flags[name]["fired"], name


def test_overshooting_model_fires_monotonicity_and_one_step_flags():
    model, (x, y) = Overshoot(), overshoot_points()
    eps = [0.0, 0.05, 0.45, 0.9]
    fgsm_acc = curve(FGSM(), model, x, y, eps)
    pgd_acc = curve(PGD(steps=20, random_start=False), model, x, y, eps)
    assert fgsm_acc == [1.0, 1.0, 0.0, 1.0]
    assert pgd_acc == [1.0, 1.0, 1.0, 1.0]
    flags = check_all(eps, fgsm_acc, fgsm_acc=fgsm_acc, pgd_acc=pgd_acc)
    assert flags["accuracy_not_monotone"]["fired"] and flags["one_step_stronger"]["fired"]
    assert "0.000 at eps=0.45 -> 1.000 at eps=0.9" in flags["accuracy_not_monotone"]["message"]


def test_check_all_is_json_ready_and_skips_missing_inputs():
    flags = check_all([0.0, 0.1], [0.9, 0.5])
    assert list(flags) == ["accuracy_not_monotone"]
    assert json.loads(json.dumps(flags)) == flags


@pytest.mark.parametrize(
    "flag,expected",
    [
        (accuracy_not_monotone([0.0, 0.1, 0.2], [0.9, 0.5, 0.6]), True),
        (accuracy_not_monotone([0.2, 0.0, 0.1], [0.6, 0.9, 0.5]), True),  # order of the grid does not matter
        (accuracy_not_monotone([0.0, 0.1, 0.2], [0.9, 0.5, 0.505]), False),  # within tolerance
        (large_eps_not_broken(0.3), True),
        (large_eps_not_broken(0.01), False),
        (one_step_stronger([0.8, 0.5], [0.8, 0.7]), True),
        (one_step_stronger(0.5, 0.4), False),
        (noise_stronger([0.9, 0.4], [0.9, 0.6]), True),
        (noise_stronger([0.9, 0.8], [0.9, 0.6]), False),
        (zero_gradients(0.8), True),
        (zero_gradients(0.1), False),
    ],
)
def test_flag_thresholds(flag, expected):
    assert flag.fired is expected
    assert flag.message and "\n" not in flag.message


def test_zero_gradient_fraction_keeps_mode_and_leaves_no_parameter_gradients():
    model = trained_mlp().train()
    x, y = held_out_points(20)
    with torch.inference_mode():
        assert zero_gradient_fraction(model, x, y) == 0.0
    assert model.training and all(p.grad is None for p in model.parameters())


def test_covering_eps_spans_the_box():
    assert covering_eps((0.0, 1.0), "linf", 784) == 1.0
    assert covering_eps((0.0, 255.0), "l2", 4) == pytest.approx(510.0)


class Detached(nn.Module):
    """Non-differentiable preprocessing: the input leaves the graph before the model sees it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.detach())


@pytest.mark.parametrize("frozen", [True, False])
def test_detached_input_counts_as_zero_gradient_instead_of_failing(frozen):
    model = Detached(trained_mlp()).requires_grad_(not frozen)
    x, y = held_out_points(20)
    assert zero_gradient_fraction(model, x, y) == 1.0
    assert torch.equal(FGSM()(model, x, y, 0.1), x)
