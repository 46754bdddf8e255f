"""The demo's two commands (fit, then test with FGSM and PGD) run with networking disabled and W&B
as the config sets it (offline), without any network wait."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import require
from tests.helpers import REPO, tiny_spheres_config

pytestmark = pytest.mark.slow


def test_demo_commands_succeed_without_network_and_without_waiting(tmp_path):
    require(shutil.which("unshare") is not None and os.geteuid() == 0, "unshare -n needs root")
    config = tiny_spheres_config(tmp_path, name="demo")
    ckpt = tmp_path / "checkpoints" / "demo" / "ckpt" / "last.ckpt"
    advconf = f"{sys.executable} -m advconf"
    script = (f"{advconf} fit --config {config} --trainer.max_epochs 1 && "
              f"{advconf} test --config {config} --ckpt_path {ckpt} --attack fgsm --attack pgd --attack.steps 3")
    # The configs themselves must keep W&B offline: no WANDB_MODE from the test environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pgd: 200 examples" in run.stdout and "fgsm: 200 examples" in run.stdout
    logs = run.stderr + "".join(p.read_text(errors="replace") for p in (tmp_path / "checkpoints" / "demo" / "wandb").rglob("debug*.log"))
    # What wandb logs while it waits for a network (wandb.init blocks ~90 s before giving up).
    for symptom in ("Network error", "retrying", "timed out", "ConnectionError", "Max retries exceeded"):
        assert symptom not in logs, symptom
