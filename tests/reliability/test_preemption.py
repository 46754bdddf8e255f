"""SIGTERM / SIGUSR1 during fit: the current batch finishes, ``last.ckpt`` is saved, the command exits
cleanly, and ``--ckpt_path last`` continues to the same end as an uninterrupted run."""

import pytest

from tests.helpers import run_cli
from tests.reliability.runs import assert_same_end, global_step, reliable_config, run_dir

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGUSR1"])
def test_signal_saves_last_checkpoint_exits_cleanly_and_resumes_to_the_same_weights(tmp_path, uninterrupted, signal_name):
    fault = {"class_path": "tests.reliability.faults.SignalAt", "init_args": {"step": 27, "signal_name": signal_name}}
    with pytest.raises(SystemExit) as stop:
        run_cli(["fit", "--config", reliable_config(tmp_path, "run", faults=[fault])])
    assert stop.value.code in (None, 0)  # Lightning's SIGTERMException: a clean exit, status 0
    last = run_dir(tmp_path, "run") / "ckpt" / "last.ckpt"
    assert global_step(last) == 27  # saved at the signal, not only at the periodic save (step 25)

    run_cli(["fit", "--config", reliable_config(tmp_path, "run"), "--ckpt_path", "last"])
    assert_same_end(last, uninterrupted)
