"""EOT: identical to the plain attack on a deterministic model, stronger on a stochastic one."""

import pytest
import torch

from advconf.attacks import EOT, FGSM, PGD, ConstantOffset, UniformNoise
from advconf.errors import AdvconfError
from advconf.functional import classification_loss
from tests.attacks.toys import InputDropout, held_out_points, trained_mlp


def test_eot_equals_plain_pgd_on_a_deterministic_model():
    model = trained_mlp()
    x, y = held_out_points(50)
    plain = PGD(steps=10, seed=1)(model, x, y, 0.1)
    averaged = EOT(PGD(steps=10, seed=1), samples=3)(model, x, y, 0.1)
    torch.testing.assert_close(averaged, plain)


@pytest.mark.parametrize("attack", [FGSM(), PGD(steps=5)], ids=["fgsm", "pgd"])
def test_eot_is_stronger_on_a_model_with_input_dropout(attack):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 64, generator=generator)
    model = InputDropout(weight).train()  # dropout active during the attack
    x, y = torch.rand(32, 64, generator=generator), torch.randint(0, 2, (32,), generator=generator)
    torch.manual_seed(0)
    plain = attack(model, x, y, 0.05)
    averaged = EOT(attack, samples=30)(model, x, y, 0.05)
    model.eval()  # judge both on the expected (dropout-free) model
    with torch.no_grad():
        loss_plain = classification_loss(model(plain), y)
        loss_averaged = classification_loss(model(averaged), y)
    assert loss_averaged > loss_plain + 0.5


def test_wrapped_attack_is_left_unchanged():
    pgd = PGD(steps=2)
    eot = EOT(pgd, samples=4)
    assert pgd.gradient_samples == 1 and eot.attack.gradient_samples == 4
    assert eot.attack.steps == 2


@pytest.mark.parametrize("attack", [ConstantOffset(), UniformNoise(), "pgd"])
def test_non_gradient_attack_is_refused(attack):
    with pytest.raises(AdvconfError, match="gradient attacks"):
        EOT(attack)


@pytest.mark.parametrize("samples", [0, -1, 2.0])
def test_bad_sample_count_raises(samples):
    with pytest.raises(AdvconfError, match="samples"):
        EOT(PGD(), samples=samples)
