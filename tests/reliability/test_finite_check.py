"""A NaN loss or an infinite weight stops fit with a one-line error naming the step; the last good
checkpoint is neither overwritten nor replaced by one holding the bad weights."""

import pytest
import torch

from tests.helpers import cli_error
from tests.reliability.runs import global_step, reliable_config, run_dir, weights

pytestmark = pytest.mark.slow


def fit_error(tmp_path, capsys, fault: dict) -> str:
    return cli_error(["fit", "--config", reliable_config(tmp_path, "run", faults=[fault])], capsys)


def test_nan_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    message = fit_error(tmp_path, capsys, {"class_path": "tests.reliability.faults.NaNInputsAt", "init_args": {"step": 12}})
    assert message.startswith("advconf: error: non-finite loss") and "at step 12" in message
    last = run_dir(tmp_path, "run") / "ckpt" / "last.ckpt"
    assert global_step(last) == 10
    assert all(torch.isfinite(w).all() for w in weights(last).values())


def test_infinite_weights_after_a_step_name_the_parameter_and_step_and_are_never_saved(tmp_path, capsys):
    # Step 10 is a checkpoint step: the check must run before ModelCheckpoint's save of the same step.
    poison = {"class_path": "tests.reliability.faults.PoisonWeightsAt", "init_args": {"step": 10}}
    message = fit_error(tmp_path, capsys, poison)
    assert "non-finite weights in model." in message and "after step 10" in message
    last = run_dir(tmp_path, "run") / "ckpt" / "last.ckpt"
    assert global_step(last) == 5
    assert all(torch.isfinite(w).all() for w in weights(last).values())
