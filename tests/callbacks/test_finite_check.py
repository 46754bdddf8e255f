"""FiniteCheck's weight check: sums first, element by element only to confirm (the CLI runs are in tests/reliability)."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from advconf.callbacks.finite_check import FiniteCheck
from advconf.errors import AdvconfError

TRAINER = SimpleNamespace(global_step=7, current_epoch=0)


def layer_with(value: float) -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.fill_(value)
    return model


def test_large_finite_weights_whose_sum_overflows_do_not_stop_the_run():
    model = layer_with(3e38)  # every weight is finite; their float32 sum is inf
    assert not torch.isfinite(model[1].weight.sum())
    FiniteCheck().on_train_batch_end(TRAINER, model, None, None, 0)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_a_non_finite_weight_stops_the_run_naming_the_parameter_and_step(value):
    with pytest.raises(AdvconfError, match=r"non-finite weights in 1\.weight after step 7"):
        FiniteCheck().on_train_batch_end(TRAINER, layer_with(value), None, None, 0)


def test_a_non_finite_loss_stops_the_run_before_backward():
    for loss in (torch.tensor(float("nan")), torch.tensor([1.0, float("inf")])):
        with pytest.raises(AdvconfError, match="non-finite loss .* at step 7"):
            FiniteCheck().on_before_backward(TRAINER, nn.Linear(1, 1), loss)
    FiniteCheck().on_before_backward(TRAINER, nn.Linear(1, 1), torch.tensor(2.5))
