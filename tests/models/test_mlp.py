import pytest
import torch
from torch import nn

from advconf.errors import AdvconfError
from advconf.models.mlp import MLP


def test_mlp_has_depth_hidden_layers_with_optional_batch_norm():
    model = MLP(in_features=3, num_outputs=4, depth=2, width=16, batch_norm=True)
    kinds = [type(m) for m in model.layers]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert model(torch.randn(5, 3)).shape == (5, 4)
    plain = MLP(in_features=3, num_outputs=1, depth=1, width=8, batch_norm=False)
    assert [type(m) for m in plain.layers] == [nn.Linear, nn.ReLU, nn.Linear]


def test_mlp_refuses_empty_layers():
    with pytest.raises(AdvconfError, match="width"):
        MLP(width=0)
