"""APGD-CE, APGD-DLR, APGD-T: the paper's checkpoints, DLR losses by hand, analytic optima, the reference's trajectories."""

import pytest
import torch
import torchattacks
from torch import nn

from advconf.attacks._applicability import NotApplicable
from advconf.attacks.apgd import APGD, APGDT, checkpoints, dlr_loss, targeted_dlr_loss
from advconf.errors import AdvconfError
from tests.attacks.aa_models import (
    TwoLogits,
    boundary_distance,
    centred_points,
    conv_model,
    images,
    linear_binary,
    own_labels,
)

TORCHATTACKS_NORM = {"linf": "Linf", "l2": "L2"}


def test_checkpoints_for_100_steps_are_the_papers():
    # Croce & Hein 2020, Sec. 3.1: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06),
    # checks at ceil(p_j * N). In hundredths the recurrence is exact integer arithmetic.
    p = [0, 22]
    while p[-1] + max(p[-1] - p[-2] - 3, 6) <= 100:
        p.append(p[-1] + max(p[-1] - p[-2] - 3, 6))
    assert checkpoints(100) == p[1:] == [22, 41, 57, 70, 80, 87, 93, 99]


@pytest.mark.parametrize(
    "steps,expected",
    [
        # reference: first gap max(int(0.22 N), 1), each next max(int(0.03 N), 1) shorter, at least max(int(0.06 N), 1)
        (10, [2, 3, 4, 5, 6, 7, 8, 9, 10]),
        (50, [11, 21, 30, 38, 45]),
        (1, [1]),
    ],
)
def test_checkpoints_follow_the_reference_integer_rule_for_other_budgets(steps, expected):
    assert checkpoints(steps) == expected


def test_dlr_loss_by_hand():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [3.0, 1.0, 2.0, 0.0]])
    # y = 0 is the top class: -(3 - 2) / (3 - 1); y = 3 is not: -(0 - 3) / (3 - 1)
    assert torch.allclose(dlr_loss(logits, torch.tensor([0, 3])), torch.tensor([-0.5, 1.5]))


def test_targeted_dlr_loss_by_hand():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    # -(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2) = -(3 - 2) / (3 - 0.5) and -(3 - 0) / 2.5
    assert torch.allclose(targeted_dlr_loss(logits, torch.tensor([0]), torch.tensor([2])), torch.tensor([-0.4]))
    assert torch.allclose(targeted_dlr_loss(logits, torch.tensor([0]), torch.tensor([3])), torch.tensor([-1.2]))


def test_linf_apgd_ce_reaches_the_analytic_worst_case_of_a_linear_model():
    # For a linear model the cross-entropy grows with the margin against the true class, so its maximum over
    # the L∞ ball is the vertex x - eps * sign(w) (label 1) or x + eps * sign(w) (label 0).
    model = linear_binary()
    x, y = centred_points(model)
    eps = 0.005
    far = boundary_distance(model, x, "linf") > 2 * eps  # nothing breaks: the attack returns its best point
    x, y = x[far], y[far]
    x_adv = APGD(steps=10)(model, x, y, eps)
    direction = model[1].weight.sign().view(1, 1, 4, 4) * (1 - 2 * y).view(-1, 1, 1, 1)
    assert torch.allclose(x_adv, x + eps * direction, atol=1e-6)


def test_l2_apgd_ce_converges_to_the_analytic_worst_case_of_a_linear_model():
    model = linear_binary()
    x, y = centred_points(model)
    eps = 0.02
    far = boundary_distance(model, x, "l2") > 2 * eps
    x, y = x[far], y[far]
    delta = (APGD(norm="l2", steps=30)(model, x, y, eps) - x).flatten(1)
    best = model[1].weight * (1 - 2 * y).view(-1, 1).float()
    assert torch.allclose(delta.norm(dim=1), torch.full((len(x),), eps), atol=1e-6)
    assert (torch.cosine_similarity(delta, best, dim=1) > 0.999).all()


def reference_single_run(attack: torchattacks.attack.Attack, x, y, seed):
    """torchattacks' port of the reference APGD, run the way its perturb() runs it on the clean-correct points."""
    torch.manual_seed(seed)
    with torch.no_grad():
        best, still_correct, _, _ = attack.attack_single_run(x, y)
    return best, still_correct


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.4)])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_follows_the_reference_trajectory(norm, eps, loss):
    """Same seed, same start: the same examples break, and every unbroken example ends at the reference's best point.

    The best point after 20 steps depends on every step size, momentum step and halving, so this checks the whole
    update rule against the reference port (torchattacks used only as an oracle here). The tolerance (1e-3, against
    steps of eps / 2^k) allows for float noise: dropping broken examples changes the batch the convolution sees.
    """
    model = conv_model().eval()
    x = images(40)
    y = own_labels(model, x)
    reference = torchattacks.APGD(model, norm=TORCHATTACKS_NORM[norm], eps=eps, steps=20, loss=loss)
    best, still_correct = reference_single_run(reference, x, y, seed=7)
    x_adv = APGD(loss=loss, norm=norm, steps=20, seed=7)(model, x, y, eps)
    with torch.no_grad():
        broken = model(x_adv).argmax(dim=1) != y
    assert 0 < broken.sum() < len(x)
    assert torch.equal(broken, ~still_correct)
    assert torch.allclose(x_adv[~broken], best[~broken], atol=1e-3)


def test_linf_apgd_t_follows_the_reference_trajectory_for_every_target():
    model = conv_model().eval()
    x = images(40)
    y = own_labels(model, x)
    eps = 0.05
    x_adv = APGDT(steps=10, targets=3, seed=4)(model, x, y, eps)
    reference = torchattacks.APGDT(model, eps=eps, steps=10, n_classes=4, seed=4)  # n_classes - 1 = 3 targets
    torch.manual_seed(0)
    with torch.no_grad():
        reference_adv = reference.perturb(x, y)[1]
        broken = model(x_adv).argmax(dim=1) != y
        assert 0 < broken.sum() < len(x)
        assert torch.equal(broken, model(reference_adv).argmax(dim=1) != y)


def test_an_examples_result_does_not_depend_on_the_rest_of_the_batch():
    # torchattacks' L2 APGDT steps every example with the first example's step size; here each has its own.
    model = conv_model().eval()
    x = images(12)
    other = x.clone()
    other[0] = images(1, seed=9)[0]
    attack = APGDT(norm="l2", steps=20, targets=2)
    results = [attack(model, batch, own_labels(model, batch), 0.5) for batch in (x, other)]
    assert torch.equal(results[0][1:], results[1][1:])


def test_single_logit_model_gives_the_same_result_as_its_two_logit_form():
    model = linear_binary()
    x, y = centred_points(model)
    eps = 0.015  # breaks some points, not all
    single, double = (APGD(steps=15, seed=2)(m, x, y, eps) for m in (model, TwoLogits(model)))
    with torch.no_grad():
        broken = (model(single)[:, 0] > 0).long() != y
    assert 0 < broken.sum() < len(x)
    assert torch.allclose(single, double, atol=1e-6)


def test_gradient_samples_average_that_many_passes_per_step():
    calls = []
    model = conv_model().eval()
    x = images(4)
    y = own_labels(model, x)
    with torch.no_grad():
        model[-1].bias += 100 * nn.functional.one_hot(y[0], 5).float()  # example 0's class: unbreakable at eps 0.01
    x, y = x[:1], y[:1]
    model.register_forward_hook(lambda *_: calls.append(1))
    APGD(steps=6, gradient_samples=3)(model, x, y, 0.01)
    # clean forward + 3 passes at the start and after each of the 6 steps + the final check of the result
    assert len(calls) == 1 + 3 * 7 + 1


@pytest.mark.parametrize(
    "attack,classes,message",
    [
        (APGD(loss="dlr"), 2, "APGD-DLR needs at least 3 classes"),
        (APGDT(), 3, "APGD-T needs at least 4 classes"),
    ],
)
def test_dlr_refuses_too_few_classes_in_one_line(attack, classes, message):
    model = conv_model(classes=classes).eval()
    x = images(3)
    with pytest.raises(NotApplicable, match=message) as err:
        attack(model, x, own_labels(model, x), 0.1)
    assert "\n" not in str(err.value)


def test_single_logit_model_refused_by_dlr():
    model = linear_binary()
    x, y = centred_points(model)
    with pytest.raises(NotApplicable, match="has 2"):
        APGD(loss="dlr")(model, x, y, 0.1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"steps": 0}, "steps"),
        ({"rho": 1.5}, "rho"),
        ({"loss": "hinge"}, "loss"),
        ({"restarts": 0}, "restarts"),
        ({"norm": "l1"}, "norm"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(AdvconfError, match=match):
        APGD(**kwargs)


def test_apgd_t_needs_at_least_one_target():
    with pytest.raises(AdvconfError, match="targets"):
        APGDT(targets=0)
