"""Preemption under 2-process DDP (gloo, CPU): a signal to either rank, at an epoch's last batch,
during validation or mid-epoch, stops both ranks at the same step with ``last.ckpt`` saved, and the
run resumed after each stop ends with the weights of an uninterrupted DDP run."""

import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO
from tests.reliability.runs import assert_same_end, ckpt_files, global_step

pytestmark = pytest.mark.slow


def ddp_fit(root, *args: str) -> list[str]:
    """Run ``tests.reliability.ddp_fit``; return the outcome of rank 0 and rank 1."""
    for rank in (0, 1):
        (root / f"exit.{rank}").unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "tests.reliability.ddp_fit", str(root), *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return [(root / f"exit.{rank}").read_text() for rank in (0, 1)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp-whole")
    assert ddp_fit(root) == ["None"] * 2
    last = root / "ckpt" / "last.ckpt"
    return global_step(last), torch.load(last, weights_only=True)["state_dict"]


def test_ddp_signals_to_either_rank_at_three_moments_resume_to_the_uninterrupted_weights(tmp_path, reference):
    last = tmp_path / "ckpt" / "last.ckpt"
    # (moment, step, rank that gets the signal, signal) -> step saved in last.ckpt; each run resumes the previous one
    stops = [(("train_batch_start", "9", "1", "SIGTERM"), 11),  # before the first epoch's last batch (the stop waits a batch)
             (("validation", "20", "0", "SIGTERM"), 21),  # validation after the second epoch
             (("train_batch_end", "24", "1", "SIGUSR1"), 25)]  # mid-epoch
    for i, (signal_at, saved) in enumerate(stops):
        resume = ["--resume"] if i else []
        outcome = ddp_fit(tmp_path, *resume, "--signal", *signal_at)
        assert outcome[0] == outcome[1] != "None", outcome  # both ranks stopped
        assert global_step(last) == saved, signal_at
    assert ddp_fit(tmp_path, "--resume") == ["None"] * 2
    assert_same_end(last, reference)
    assert ckpt_files(tmp_path) == ["epoch=2-step=30.ckpt", "last.ckpt"]
