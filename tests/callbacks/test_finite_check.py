"""FiniteCheck's weight check: where it runs, and sums first, element by element only to confirm (the CLI
runs with checkpoints are in tests/reliability)."""

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch import nn

from advconf.callbacks.finite_check import FiniteCheck, check_weights
from advconf.data.spheres import SpheresDataModule
from advconf.errors import AdvconfError
from advconf.module import Classifier

TRAINER = SimpleNamespace(global_step=7, current_epoch=0, checkpoint_callbacks=[])


def layer_with(value: float) -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.fill_(value)
    return model


def test_large_finite_weights_whose_sum_overflows_are_not_taken_for_non_finite():
    model = layer_with(3e38)  # every weight is finite; their float32 sum is inf
    assert not torch.isfinite(model[1].weight.sum())
    check_weights(TRAINER, model)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_a_non_finite_weight_is_named_with_the_step(value):
    with pytest.raises(AdvconfError, match=r"non-finite weights in 1\.weight after step 7"):
        check_weights(TRAINER, layer_with(value))


def test_weights_are_checked_before_a_checkpoint_is_written_and_at_the_end_not_after_every_batch():
    check = FiniteCheck()
    check.setup(TRAINER, layer_with(float("nan")), "fit")
    check.on_train_batch_end(TRAINER, layer_with(float("nan")), None, None, 0)  # no pass over the weights per step
    with pytest.raises(AdvconfError, match="non-finite weights"):
        check.on_save_checkpoint(TRAINER, layer_with(float("nan")), {})
    with pytest.raises(AdvconfError, match="non-finite weights"):
        check.on_train_end(TRAINER, layer_with(float("nan")))


def test_with_weights_only_checkpoints_the_weights_are_checked_after_every_batch():
    trainer = SimpleNamespace(**{**vars(TRAINER), "checkpoint_callbacks": [SimpleNamespace(save_weights_only=True)]})
    check = FiniteCheck()
    check.setup(trainer, layer_with(0.0), "fit")
    with pytest.raises(AdvconfError, match="non-finite weights"):
        check.on_train_batch_end(trainer, layer_with(float("nan")), None, None, 0)


class PoisonAfter(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, pl_module: Classifier, *args: object) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))


@pytest.mark.parametrize("steps_per_chunk", [1, 2])
def test_weights_poisoned_between_checkpoints_stop_the_run_at_the_next_loss(steps_per_chunk):
    model = Classifier(nn.Linear(2, 2), num_classes=2, steps_per_chunk=steps_per_chunk)
    trainer = Trainer(max_steps=10, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, log_every_n_steps=2, callbacks=[PoisonAfter(4), FiniteCheck()])
    with pytest.raises(AdvconfError, match="non-finite loss"):
        trainer.fit(model, SpheresDataModule(train_size=500, val_size=50, test_size=50))
    assert trainer.global_step <= 5
