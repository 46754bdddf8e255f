"""Both model heads (K logits, one logit) through the shared helpers, against hand-computed values."""

import math

import pytest
import torch

from advconf.functional import confidence, margin


def test_confidence_for_softmax_and_single_logit_heads():
    assert confidence(torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])).tolist() == pytest.approx([0.5, 0.75])
    assert confidence(torch.tensor([[0.0], [-math.log(3)]])).tolist() == pytest.approx([0.5, 0.75])


def test_margin_is_top_logit_minus_runner_up():
    assert margin(torch.tensor([[3.0, 1.0, 2.5], [0.0, -1.0, 4.0]])).tolist() == pytest.approx([0.5, 4.0])
    assert margin(torch.tensor([[-2.0], [0.5]])).tolist() == pytest.approx([2.0, 0.5])  # the pair [0, z]
