"""A fit killed with SIGKILL mid-epoch resumes from ``last.ckpt`` and ends where an uninterrupted run ends."""

import signal

import pytest
import torch

from tests.reliability.runs import advconf_subprocess, global_step, reliable_config, run_dir, weights

pytestmark = pytest.mark.slow
STEPS_PER_EPOCH = 20  # tiny spheres: 1000 training points, batch 50


def kill_at(step: int, name: str = "SIGKILL") -> dict:
    return {"class_path": "tests.reliability.faults.SignalAt", "init_args": {"step": step, "signal_name": name}}


def test_sigkill_mid_epoch_then_resume_from_last_matches_an_uninterrupted_run(tmp_path):
    whole = reliable_config(tmp_path, "whole")
    killed = reliable_config(tmp_path, "killed", faults=[kill_at(STEPS_PER_EPOCH + 7)])

    assert advconf_subprocess(tmp_path, "fit", "--config", whole).returncode == 0
    crash = advconf_subprocess(tmp_path, "fit", "--config", killed)
    assert crash.returncode == -signal.SIGKILL
    last = run_dir(tmp_path, "killed") / "ckpt" / "last.ckpt"
    assert global_step(last) == STEPS_PER_EPOCH + 5  # the last every-5-steps save before the kill

    resumed = reliable_config(tmp_path, "killed")  # same run, without the fault
    result = advconf_subprocess(tmp_path, "fit", "--config", resumed, "--ckpt_path", "last")
    assert result.returncode == 0, result.stderr[-2000:]

    expected = weights(run_dir(tmp_path, "whole") / "ckpt" / "last.ckpt")
    got = weights(last)
    assert global_step(last) == global_step(run_dir(tmp_path, "whole") / "ckpt" / "last.ckpt")
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
