"""RUN_DIR in the SLURM scripts moves the whole run: it is the last ``--trainer.default_root_dir`` on
the command line (so it wins over the config and the overrides), and each job-array task gets its own
directory under it. (srun is replaced by a function that prints its arguments: no cluster needed.)"""

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

ALLOCATION = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "7", "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "n1"}


def srun_command(args: list[str], **env: str) -> list[str]:
    script = f'set -euo pipefail; srun() {{ printf "%s\\n" "$@"; }}; source {REPO}/slurm/launch.sh; advconf_srun fit "$@"'
    done = subprocess.run(["bash", "-c", script, "bash", *args], env=ALLOCATION | env, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[1:]


def test_run_dir_comes_last_and_wins_over_a_run_directory_in_the_overrides():
    command = srun_command(["c.yaml", "--trainer.default_root_dir", "runs/config"], RUN_DIR="runs/moved")
    assert command[-4:] == ["--trainer.default_root_dir", "runs/config", "--trainer.default_root_dir", "runs/moved"]


def test_without_run_dir_the_command_line_is_left_alone():
    assert "--trainer.default_root_dir" not in srun_command(["c.yaml"])


@pytest.mark.parametrize("lines, config, expected", [  # "LABEL OVERRIDES" lines on a CONFIG; "CONFIG..." lines
    ("4a --trainer.default_root_dir=checkpoints/table1/4a\n4b --trainer.default_root_dir=checkpoints/table1/4b\n", ["base.yaml"], "runs/x/4b"),
    ("configs/resnet18_w32a32g32.yaml\nconfigs/base.yaml --config configs/resnet18_w2a2g6.yaml\n", [], "runs/x/resnet18_w2a2g6"),
])
def test_each_array_task_gets_its_own_directory_under_run_dir(tmp_path: Path, lines, config, expected):
    listing = tmp_path / "list.txt"
    listing.write_text(lines)
    command = srun_command([str(listing), *config], RUN_DIR="runs/x", SLURM_ARRAY_TASK_ID="1")
    assert command[-2:] == ["--trainer.default_root_dir", expected]
