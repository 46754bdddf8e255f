"""Driving slurm/local_cluster.sh and its jobs from tests.

Only one local cluster can exist per machine (fixed namespace, bridge and host names), so every
user of it holds an exclusive lock; a cluster left over by a crashed run is stopped first.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "slurm" / "local_cluster.sh"
STATE_DIR = Path("/tmp/advconf-slurm")
LOCK = Path("/tmp/advconf-slurm.lock")
NODES = ("advconf-n1", "advconf-n2")
NODE_INTERFACE = "advconf0"
TOOLS = ("slurmctld", "slurmd", "munged", "sbatch", "scontrol", "squeue", "scancel", "nsenter", "unshare", "ip")


def missing_requirement() -> str | None:
    """Why the local cluster cannot run here, or None."""
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (network namespaces, /etc/hosts)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the local SLURM cluster needs {', '.join(missing)} (apt-get install slurm-wlm munge iproute2 util-linux)"
    return None


def cluster_command(action: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), action], capture_output=True, text=True, timeout=120)


@contextmanager
def cluster_lock() -> Iterator[None]:
    """Exclusive use of the machine's one local cluster (pytest-xdist workers run side by side)."""
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def local_cluster() -> Iterator[dict[str, str]]:
    """A running two-node cluster (take cluster_lock() first); yields the environment for sbatch
    and the jobs it starts."""
    cluster_command("stop")
    started = cluster_command("start")
    try:
        assert started.returncode == 0, f"local_cluster.sh start failed:\n{started.stdout}{started.stderr}"
        yield job_environment()
    finally:
        cluster_command("stop")


def job_environment() -> dict[str, str]:
    """sbatch passes its environment on to the job: advconf on PATH, tests importable, gloo on the veth."""
    return os.environ | {
        "SLURM_CONF": str(STATE_DIR / "slurm.conf"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "GLOO_SOCKET_IFNAME": NODE_INTERFACE,
        "OMP_NUM_THREADS": "1",
    }


def sbatch(args: list[str], env: dict[str, str]) -> str:
    """Submit from the repository root (as users do); returns the job id."""
    done = subprocess.run(["sbatch", "--parsable", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().split(";")[0]


def job_states(job_id: str, env: dict[str, str]) -> dict[str, str]:
    """Job id (ARRAYID_TASK for array tasks) -> "STATE exit-code" (kept MinJobAge after the end)."""
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, capture_output=True, text=True)
    states = {}
    for line in shown.stdout.splitlines():
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        task = fields.get("ArrayTaskId")
        name = f"{fields['ArrayJobId']}_{task}" if task else fields["JobId"]
        states[name] = f"{fields['JobState']} {fields['ExitCode']}"
    return states


def wait_for_job(job_id: str, env: dict[str, str], timeout: float) -> dict[str, str]:
    """Wait until the job (all array tasks) has left the queue; returns job_states."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job_id], env=env, capture_output=True, text=True)
        if queued.returncode == 0 and not queued.stdout.strip():
            return job_states(job_id, env)
        time.sleep(1)
    subprocess.run(["scancel", job_id], env=env)
    raise TimeoutError(f"job {job_id} still queued after {timeout} s: {job_states(job_id, env)}")


def write_fit_config(
    path: Path,
    run_dir: Path,
    data_dir: Path,
    max_epochs: int,
    step_delay: float = 0.0,
    bits: tuple[int, int, int] | None = None,
    validate: bool = True,
) -> Path:
    """A tiny ResNet-18 run on the FFCV data in data_dir (3 classes, 16x16 images, batch 4); with
    ``bits``, the DoReFa ResNet-18 that the quantised configs train (on 32x32 images, its smallest).
    validate=False skips validation, which saves compiling a second ffcv pipeline per process."""
    callbacks = [{"class_path": "tests.slurm.recorder.RunRecorder", "init_args": {"step_delay": step_delay}}]
    if bits is not None:
        weight, activation, gradient = bits
        callbacks.append(
            {
                "class_path": "advconf.callbacks.quantization.Quantization",
                "init_args": {"weight_bits": weight, "activation_bits": activation, "gradient_bits": gradient},
            }
        )
    size = 16 if bits is None else 32
    model = (
        {"class_path": "advconf.models.ResNet18", "init_args": {"num_classes": 3, "cifar_stem": True, "input_shape": [3, size, size]}}
        if bits is None
        else {"class_path": "advconf.models.DoReFaResNet18", "init_args": {"num_classes": 3, "input_shape": [3, size, size]}}
    )
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "strategy": "ddp",
            "max_epochs": max_epochs,
            "default_root_dir": str(run_dir),
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "enable_checkpointing": False,  # SIGUSR1 still saves the HPC checkpoint
            "limit_val_batches": None if validate else 0,
            "num_sanity_val_steps": None if validate else 0,
            "callbacks": callbacks,
        },
        "model": {"model": model},
        "data": {
            "class_path": "advconf.data.imagenet.ImageNetDataModule",
            "init_args": {
                "train_path": str(data_dir / "train.beton"),
                "val_path": str(data_dir / "val.beton"),
                "num_classes": 3,
                "image_size": size,
                "batch_size": 4,
                "num_workers": 1,
            },
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path
