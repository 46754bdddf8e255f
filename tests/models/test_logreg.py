import pytest
import torch

from advconf.errors import AdvconfError
from advconf.models import LogisticRegression


def test_logistic_regression_outputs_one_logit():
    model = LogisticRegression([1, 4, 4])
    assert model(torch.rand(3, 1, 4, 4)).shape == (3, 1)


def test_default_model_has_no_bias_as_in_the_authors_code():
    """logistic/logistic.py of uoguelph-mlrg/adversarial_training_vs_weight_decay: logit = x . w, no bias."""
    model = LogisticRegression([1, 4, 4])
    x = torch.rand(3, 1, 4, 4)
    assert model.linear.bias is None
    torch.testing.assert_close(model(x)[:, 0], x.flatten(1) @ model.linear.weight[0])


def test_expert_init_without_bias_scores_inputs_by_their_projection_on_the_mean_difference():
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]]).view(4, 1, 2, 2)
    y = torch.tensor([0, 0, 1, 1])
    model = LogisticRegression([1, 2, 2], expert_init=True)
    model.initialise_from_data(x, y)
    # means: label 0 (0.5, 1, 0.5, 0), label 1 (0, 0.5, 0.5, 1); w = (-0.5, -0.5, 0, 1)
    torch.testing.assert_close(model.linear.weight[0], torch.tensor([-0.5, -0.5, 0.0, 1.0]))
    torch.testing.assert_close(model(x)[:, 0], torch.tensor([-0.5, -1.0, 1.0, 0.5]))


def test_bias_must_be_none_or_midpoint():
    with pytest.raises(AdvconfError, match="midpoint"):
        LogisticRegression(bias="learned")


def test_expert_init_weights_are_mean_of_label_one_minus_mean_of_label_zero():
    x = torch.rand(10, 1, 4, 4)
    y = torch.tensor([0, 1] * 5)
    model = LogisticRegression([1, 4, 4], expert_init=True)
    model.initialise_from_data(x, y)
    expected = x[y == 1].mean(0).flatten() - x[y == 0].mean(0).flatten()
    torch.testing.assert_close(model.linear.weight[0], expected)


def test_midpoint_bias_puts_the_boundary_half_way_between_the_class_means():
    x = torch.rand(10, 1, 4, 4)
    y = torch.tensor([0, 1] * 5)
    model = LogisticRegression([1, 4, 4], expert_init=True, bias="midpoint")
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


@pytest.mark.parametrize("bias", ["none", "midpoint"])
def test_expert_init_state_survives_a_checkpoint_round_trip(bias):
    trained = LogisticRegression([1, 4, 4], expert_init=True, bias=bias)
    trained.initialise_from_data(torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 0, 1]))
    fresh = LogisticRegression([1, 4, 4], expert_init=True, bias=bias)
    fresh.load_state_dict(trained.state_dict())
    torch.testing.assert_close(fresh(torch.ones(1, 1, 4, 4)), trained(torch.ones(1, 1, 4, 4)))


def test_expert_init_needs_binary_labels():
    with pytest.raises(AdvconfError, match="binary"):
        LogisticRegression([1, 4, 4], expert_init=True).initialise_from_data(torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2]))


def test_random_init_is_truncated_normal_with_sigma_point_one_and_a_midpoint_bias_starts_at_zero():
    linear = LogisticRegression(bias="midpoint").linear
    assert linear.weight.abs().max() <= 0.2 and 0.07 < linear.weight.std() < 0.1
    assert linear.bias.item() == 0.0
