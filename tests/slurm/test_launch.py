"""slurm/launch.sh (used by fit.sbatch and test.sbatch): the advconf command line each task runs.

srun is replaced by a shell function that prints its arguments, so no cluster is needed.
"""

import os
import subprocess
from pathlib import Path

import pytest

from tests.slurm.cluster import REPO

ALLOCATION = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "7", "SLURM_JOB_NUM_NODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NODELIST": "n[1-2]"}


def srun_command(args: list[str], env: dict[str, str] | None = None) -> list[str]:
    script = f'srun() {{ printf "%s\\n" "$@"; }}; source {REPO}/slurm/launch.sh; advconf_srun fit "$@"'
    done = subprocess.run(
        ["bash", "-c", script, "bash", *args], env=ALLOCATION | (env or {}), capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()[1:]  # after the "advconf fit: job ..." line


def test_nodes_and_tasks_of_the_allocation_become_num_nodes_and_devices() -> None:
    assert srun_command(["c.yaml", "--trainer.max_epochs", "3"]) == [
        "--kill-on-bad-exit=1", "advconf", "fit", "--config", "c.yaml",
        "--trainer.num_nodes", "2", "--trainer.devices", "4", "--trainer.max_epochs", "3",
    ]


def test_run_dir_sets_the_default_root_dir() -> None:
    assert srun_command(["c.yaml"], {"RUN_DIR": "runs/a"})[-2:] == ["--trainer.default_root_dir", "runs/a"]


def test_array_task_runs_its_line_of_a_config_list(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\na.yaml --config a2.yaml\n\nb.yaml --seed_everything 1\n")

    command = srun_command([str(listing), "--trainer.max_epochs", "2"], {"SLURM_ARRAY_TASK_ID": "1"})

    assert command[3:5] == ["--config", "b.yaml"]
    assert command[-4:] == ["--seed_everything", "1", "--trainer.max_epochs", "2"]


def test_array_task_applies_a_labelled_override_line_to_the_config_after_the_list(tmp_path: Path) -> None:
    listing = tmp_path / "sweep.txt"
    listing.write_text("3-3-32 --trainer.default_root_dir=x/3-3-32\n2-2-6 --trainer.default_root_dir=x/2-2-6\n")

    command = srun_command([str(listing), "base.yaml"], {"SLURM_ARRAY_TASK_ID": "1"})

    assert command[3:5] == ["--config", "base.yaml"]
    assert command[-1] == "--trainer.default_root_dir=x/2-2-6"


@pytest.mark.parametrize("line", ["", "2-2-6 --x=1"])
def test_a_list_without_the_task_line_or_config_is_refused(tmp_path: Path, line: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{line}\n")
    script = f"source {REPO}/slurm/launch.sh; advconf_srun fit {listing}"

    done = subprocess.run(["bash", "-c", script], env=ALLOCATION | {"SLURM_ARRAY_TASK_ID": "0"}, capture_output=True, text=True)

    assert done.returncode == 2 and str(listing) in done.stderr
