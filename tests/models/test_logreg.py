import pytest
import torch

from advconf.errors import AdvconfError
from advconf.models import LogisticRegression


def test_logistic_regression_outputs_one_logit():
    model = LogisticRegression([1, 4, 4])
    assert model(torch.rand(3, 1, 4, 4)).shape == (3, 1)


def test_expert_init_weights_are_mean_of_label_one_minus_mean_of_label_zero():
    x = torch.rand(10, 1, 4, 4)
    y = torch.tensor([0, 1] * 5)
    model = LogisticRegression([1, 4, 4], expert_init=True)
    model.initialise_from_data(x, y)
    expected = x[y == 1].mean(0).flatten() - x[y == 0].mean(0).flatten()
    torch.testing.assert_close(model.linear.weight[0], expected)


def test_expert_init_puts_class_means_on_the_correct_sides_of_the_boundary():
    x = torch.rand(10, 1, 4, 4)
    y = torch.tensor([0, 1] * 5)
    model = LogisticRegression([1, 4, 4], expert_init=True)
    model.initialise_from_data(x, y)
    means = torch.stack([x[y == 0].mean(0), x[y == 1].mean(0)])
    logits = model(means)[:, 0]
    assert logits[0] < 0 < logits[1]
    torch.testing.assert_close(logits[0], -logits[1])  # boundary half way


def test_expert_init_model_refuses_to_train_before_initialisation_but_can_be_traced():
    model = LogisticRegression([1, 4, 4], expert_init=True)
    with pytest.raises(AdvconfError, match="ExpertInitialisation"):
        model(torch.rand(1, 1, 4, 4))
    assert model.eval()(torch.rand(1, 1, 4, 4)).shape == (1, 1)


def test_expert_init_state_survives_a_checkpoint_round_trip():
    trained = LogisticRegression([1, 4, 4], expert_init=True)
    trained.initialise_from_data(torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 0, 1]))
    fresh = LogisticRegression([1, 4, 4], expert_init=True)
    fresh.load_state_dict(trained.state_dict())
    torch.testing.assert_close(fresh(torch.ones(1, 1, 4, 4)), trained(torch.ones(1, 1, 4, 4)))


def test_expert_init_needs_binary_labels():
    with pytest.raises(AdvconfError, match="binary"):
        LogisticRegression([1, 4, 4], expert_init=True).initialise_from_data(torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2]))


def test_random_init_is_truncated_normal_with_sigma_point_one():
    w = LogisticRegression().linear.weight
    assert w.abs().max() <= 0.2 and 0.07 < w.std() < 0.1
