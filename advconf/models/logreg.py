"""Logistic regression on flattened pixels: the paper's Table 1 / Figure 4 model."""

import math
from typing import Literal

import torch
from torch import nn

from advconf.errors import AdvconfError


class LogisticRegression(nn.Module):
    """One linear unit over the flattened image; its single logit is positive for label 1.

    Random initialisation is the paper's truncated normal with sigma 0.1. `expert_init=True` asks
    for the paper's "expert initialisation" (mean image of one class minus the other's), which needs
    the training data: the `advconf.callbacks.ExpertInitialisation` callback calls
    `initialise_from_data` at set-up. Until that has happened the model refuses to train, so a config
    that forgets the callback fails instead of silently training from a random start (eval-mode
    forwards stay allowed: callbacks trace the model at set-up, before the data is read).

    Args:
        input_shape: shape of one input image (C, H, W).
        expert_init: start from the class-mean difference instead of random weights.
        bias: "none" (default): no bias term, the logit is `w . x` — the authors' protocol (their
            TensorFlow logistic regression, `logistic/logistic.py` of
            uoguelph-mlrg/adversarial_training_vs_weight_decay, computes `matmul(x, w)` only).
            "midpoint": a trained bias; expert initialisation sets it so that the boundary passes
            through the midpoint of the two class means (random initialisation starts it at 0).
            At Table 1's learning rate (Adam 1e-5) it barely moves from there, which shifts the
            expert-initialised rows by a few points (docs/reproducing.md, Table 1).
    """

    def __init__(
        self,
        input_shape: list[int] = [1, 28, 28],
        expert_init: bool = False,
        bias: Literal["none", "midpoint"] = "none",
    ) -> None:
        super().__init__()
        if bias not in ("none", "midpoint"):
            raise AdvconfError(f"LogisticRegression bias must be 'none' or 'midpoint', got {bias!r}")
        self.input_shape = tuple(input_shape)
        self.expert_init = expert_init
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(math.prod(input_shape), 1, bias=bias == "midpoint")
        nn.init.trunc_normal_(self.linear.weight, std=0.1, a=-0.2, b=0.2)
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)
        # A buffer so a checkpoint of an expert-initialised model loads as initialised.
        self.register_buffer("initialised", torch.tensor(not expert_init))

    @torch.no_grad()
    def initialise_from_data(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Weights = mean(x | y=1) - mean(x | y=0); with `bias="midpoint"` the bias puts the boundary
        half way between the means.

        This is the nearest-class-mean direction, so the model is already accurate before training
        (the paper's "no training" row). For MNIST classes [3, 7] label 1 is the 7.
        """
        x = x.flatten(1).to(self.linear.weight)
        if set(y.unique().tolist()) != {0, 1}:
            raise AdvconfError(f"expert initialisation needs binary labels 0/1, got labels {sorted(y.unique().tolist())}")
        mean0, mean1 = x[y == 0].mean(dim=0), x[y == 1].mean(dim=0)
        self.linear.weight.copy_((mean1 - mean0).unsqueeze(0))
        if self.linear.bias is not None:
            # The layer's own output at the midpoint, so a quantised layer (whose effective weights
            # are on another scale) also gets its boundary half way between the means.
            self.linear.bias.zero_()
            self.linear.bias.fill_(-self.linear(((mean0 + mean1) / 2).unsqueeze(0)).item())
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self.initialised:
            raise AdvconfError(
                "LogisticRegression(expert_init=True) was not initialised: add "
                "advconf.callbacks.ExpertInitialisation to trainer.callbacks"
            )
        return self.linear(self.flatten(x))
