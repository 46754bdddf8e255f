"""PerLayerWeightDecay: penalty value, which parameters count, logging, bad patterns."""

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from advconf.callbacks.weight_decay import PerLayerWeightDecay, l2_penalty, weighted_layers
from advconf.errors import AdvconfError
from advconf.models import MLP
from advconf.module import Classifier


def known_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 0.0]]))  # Σw² = 14
        model[3].weight.copy_(torch.tensor([[0.5, -0.5]]))  # Σw² = 0.5
        for p in (model[0].bias, model[3].bias, model[1].weight, model[1].bias):
            p.fill_(100.0)  # biases and batch norm must not count
    return model


def test_penalty_is_coefficient_times_sum_of_squared_weights_per_layer():
    layers = weighted_layers(known_model(), {"0": 0.05, "*": 0.5})
    assert l2_penalty(layers).item() == pytest.approx(0.05 * 14 + 0.5 * 0.5)


def test_first_matching_pattern_sets_the_coefficient():
    assert [c for c, _ in weighted_layers(known_model(), {"*": 0.5, "0": 0.05})] == [0.5, 0.5]


def test_penalty_gradient_is_twice_coefficient_times_weight():
    model = known_model()
    l2_penalty(weighted_layers(model, {"3": 0.1})).backward()
    torch.testing.assert_close(model[3].weight.grad, 2 * 0.1 * model[3].weight.detach())
    assert model[0].weight.grad is None and model[3].bias.grad is None


def test_pattern_matching_no_layer_is_an_error_naming_it():
    with pytest.raises(AdvconfError, match=r"match no conv/linear layer: \['features\.\*'\]"):
        weighted_layers(known_model(), {"*": 0.1, "features.*": 0.5})


def test_negative_coefficient_is_an_error():
    with pytest.raises(AdvconfError, match="must be >= 0"):
        PerLayerWeightDecay({"*": -0.1})


def test_penalty_is_added_to_training_loss_and_logged_separately(tmp_path):
    torch.manual_seed(0)
    module = Classifier(MLP(in_features=2, num_outputs=2, depth=1, width=4), num_classes=2)
    x = torch.randn(32, 2)
    data = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=32)
    trainer = Trainer(default_root_dir=tmp_path, max_steps=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[PerLayerWeightDecay({"layers.0": 0.5})])
    expected = 0.5 * module.model.layers[0].weight.detach().pow(2).sum().item()
    trainer.fit(module, data)
    metrics = trainer.callback_metrics
    assert metrics["train/l2_step"].item() == pytest.approx(expected, rel=1e-6)
    assert metrics["train/total_loss_step"].item() == pytest.approx(metrics["train/loss_step"].item() + expected, rel=1e-5)
