"""EOT as `gradient_samples`: identical to the plain attack on a deterministic model, stronger on a stochastic one."""

import pytest
import torch

from advconf.attacks import FGSM, PGD
from advconf.errors import AdvconfError
from advconf.functional import classification_loss
from tests.attacks.toys import InputDropout, held_out_points, trained_mlp


def test_averaged_gradients_equal_plain_pgd_on_a_deterministic_model():
    model = trained_mlp()
    x, y = held_out_points(50)
    plain = PGD(steps=10, seed=1)(model, x, y, 0.1)
    averaged = PGD(steps=10, seed=1, gradient_samples=3)(model, x, y, 0.1)
    torch.testing.assert_close(averaged, plain)


@pytest.mark.parametrize("attack", [FGSM, lambda **kw: PGD(steps=5, **kw)], ids=["fgsm", "pgd"])
def test_averaged_gradients_are_stronger_on_a_model_with_input_dropout(attack):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 64, generator=generator)
    model = InputDropout(weight).train()  # dropout active during the attack
    x, y = torch.rand(32, 64, generator=generator), torch.randint(0, 2, (32,), generator=generator)
    torch.manual_seed(0)
    plain = attack()(model, x, y, 0.05)
    averaged = attack(gradient_samples=30)(model, x, y, 0.05)
    model.eval()  # judge both on the expected (dropout-free) model
    with torch.no_grad():
        loss_plain = classification_loss(model(plain), y)
        loss_averaged = classification_loss(model(averaged), y)
    assert loss_averaged > loss_plain + 0.5


def test_each_gradient_costs_gradient_samples_forward_passes():
    model = trained_mlp()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    x, y = held_out_points(10)
    PGD(steps=3, gradient_samples=4, random_start=False)(model, x, y, 0.1)
    assert len(calls) == 3 * 4


@pytest.mark.parametrize("samples", [0, -1, 2.0, True])
@pytest.mark.parametrize("attack", [FGSM, PGD])
def test_bad_sample_count_raises(attack, samples):
    with pytest.raises(AdvconfError, match="gradient_samples"):
        attack(gradient_samples=samples)
