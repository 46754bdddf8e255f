"""A fit killed with SIGKILL mid-epoch resumes from ``last.ckpt`` and ends where an uninterrupted run ends."""

import signal

import pytest

from tests.helpers import run_cli
from tests.reliability.runs import advconf_subprocess, assert_same_end, global_step, reliable_config, run_dir

pytestmark = pytest.mark.slow


def test_sigkill_mid_epoch_then_resume_from_last_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    kill = {"class_path": "tests.reliability.faults.SignalAt", "init_args": {"step": 27, "signal_name": "SIGKILL"}}
    crash = advconf_subprocess(tmp_path, "fit", "--config", reliable_config(tmp_path, "run", faults=[kill]))
    assert crash.returncode == -signal.SIGKILL
    last = run_dir(tmp_path, "run") / "ckpt" / "last.ckpt"
    assert global_step(last) == 25  # the last every-5-steps save before the kill, mid second epoch

    run_cli(["fit", "--config", reliable_config(tmp_path, "run"), "--ckpt_path", "last"])
    assert_same_end(last, uninterrupted)
