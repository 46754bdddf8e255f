"""Multi-layer perceptron, as used on the spheres data (Gilmer et al. 2018; paper Fig 5)."""

import torch
from torch import nn

from advconf.errors import AdvconfError


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units: Linear → [BatchNorm] → ReLU, then a linear readout.

    Args:
        in_features: input dimension (2 for the paper's Fig 5 circles).
        num_outputs: number of logits; 1 gives a sigmoid/BCE binary model.
        depth: number of hidden layers.
        width: units per hidden layer.
        batch_norm: batch norm after each hidden linear layer (as in Gilmer et al.'s reference MLP).
    """

    def __init__(
        self, in_features: int = 2, num_outputs: int = 2, depth: int = 2, width: int = 1000, batch_norm: bool = True
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("num_outputs", num_outputs), ("width", width)):
            if value < 1:
                raise AdvconfError(f"MLP {name} must be >= 1, got {value}")
        if depth < 0:
            raise AdvconfError(f"MLP depth must be >= 0, got {depth}")
        self.input_shape = (in_features,)
        layers: list[nn.Module] = []
        features = in_features
        for _ in range(depth):
            layers.append(nn.Linear(features, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            features = width
        layers.append(nn.Linear(features, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))
