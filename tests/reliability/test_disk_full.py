"""A full disk during fit or test ends with one line naming the file that could not be written; the
files written before stay intact, and once there is space again the run resumes to the same end.

The disk is a small tmpfs mounted (and removed) by the test, filled by a file of all its free space.
"""

import os
import shutil
import subprocess
import sys

import pytest

from advconf.errors import AdvconfError
from tests.conftest import require
from tests.helpers import REPO, tiny_spheres_config
from tests.reliability.faults import FillDiskAt, fill_disk
from tests.reliability.runs import FINAL_FILES, assert_same_end, ckpt_files, fit_spheres, global_step


@pytest.fixture
def small_disk(tmp_path):
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk], check=True)
    yield disk
    subprocess.run(["umount", "--lazy", disk], check=True)


def test_a_full_disk_mid_fit_keeps_the_checkpoints_and_the_run_resumes_once_there_is_space(small_disk, spheres_reference):
    root = small_disk / "run"
    with pytest.raises(AdvconfError) as error:
        fit_spheres(root, FillDiskAt(12, small_disk / "filler"))
    # ModelCheckpoint's end-of-epoch save (step 20) is the first write after step 12.
    assert str(error.value) == f"cannot write {root / 'ckpt' / 'epoch=1-step=20.ckpt'}: No space left on device"
    assert ckpt_files(root) == ["epoch=0-step=10.ckpt", "last.ckpt"]  # no temporary file left
    assert global_step(root / "ckpt" / "last.ckpt") == 10

    (small_disk / "filler").unlink()
    assert fit_spheres(root, ckpt_path="last") is None
    assert_same_end(root / "ckpt" / "last.ckpt", spheres_reference[1])
    assert ckpt_files(root) == FINAL_FILES


def advconf(cwd, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "advconf", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cli_on_a_full_disk_ends_with_one_line_and_keeps_earlier_files(small_disk):
    config = tiny_spheres_config(small_disk, name="run")  # W&B offline logger on: its log files fill up too
    run = small_disk / "checkpoints" / "run"
    assert advconf(small_disk, "fit", "--config", config, "--trainer.max_epochs", "1").returncode == 0
    assert advconf(small_disk, "test", "--config", config, "--ckpt_path", run / "ckpt" / "last.ckpt", "--attack", "fgsm").returncode == 0
    # Checkpoints, results and the saved configs (config.yaml, test-config.yaml); W&B's own files may change.
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and "wandb" not in p.relative_to(run).parts}
    assert {"config.yaml", "test-config.yaml", "last.ckpt", "fgsm.json"} <= {p.name for p in before}

    fill_disk(small_disk / "filler")
    for args in (["fit", "--config", config, "--trainer.max_epochs", "3", "--ckpt_path", "last"],
                 ["test", "--config", config, "--ckpt_path", run / "ckpt" / "last.ckpt", "--attack", "pgd"]):
        outcome = advconf(small_disk, *args)
        lines = outcome.stderr.strip().splitlines()
        assert outcome.returncode != 0, args[0]
        assert "Logging error" not in outcome.stderr and "Traceback" not in outcome.stderr, f"{args[0]}: {len(lines)} lines"
        assert lines[-1].startswith("advconf: error: cannot write ") and "No space left on device" in lines[-1], args[0]
        assert {p: p.read_bytes() for p in before} == before, args[0]
