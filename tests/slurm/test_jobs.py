"""slurm/fit.sbatch and slurm/sweep.sh on a real two-node SLURM cluster (slurm/local_cluster.sh).

All jobs are submitted at once by one fixture and run side by side (about 3-5 minutes in all);
each test then checks one of them. When pytest-xdist gives these tests to several workers, the
first runs the jobs and the others read its results. Needs root, slurm-wlm, munge and ffcv: skipped elsewhere, failed
under CI=true. Stops any local cluster already running on this machine.
"""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from advconf.data.ffcv_writer import write_splits
from tests.conftest import require
from tests.data.jpeg_folder import HAVE_FFCV, make_jpeg_folder
from tests.slurm.cluster import (
    NODES, REPO, cluster_lock, local_cluster, missing_requirement, sbatch, wait_for_job, write_fit_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local_slurm_cluster")]

STEPS_PER_EPOCH = {1: 6, 2: 3}  # world size -> 24 training images / (4 per batch x world size)
FIT_EPOCHS = 3
PREEMPT_EPOCHS = 8
SIGNAL_AT_STEP = 4
JOB_TIMEOUT = 300


def records(run_dir: Path) -> list[dict[str, Any]]:
    """RunRecorder's files: one per (restart, rank)."""
    return [json.loads(p.read_text()) for p in sorted((run_dir / "ranks").glob("*.json"))]


def signal_when_past(job_id: str, run_dir: Path, step: int, env: dict[str, str]) -> None:
    """Send the preemption signal (as SLURM does before the time limit) once rank 0 passed `step`."""
    progress = run_dir / "ranks" / "0-0.json"
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        if progress.exists() and json.loads(progress.read_text()).get("step", 0) >= step:
            subprocess.run(["scancel", "--signal=USR1", job_id], env=env, check=True)
            return
        time.sleep(0.2)


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the jobs run; under pytest-xdist a folder all workers of this session see."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        return tmp_path_factory.getbasetemp().parent / "slurm-jobs"
    return tmp_path_factory.mktemp("slurm-jobs")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(HAVE_FFCV, "ffcv is not installed (pip install advconf[ffcv])")
    reason = missing_requirement()
    require(reason is None, reason or "")
    root = shared_root(tmp_path_factory)
    summary = root / "jobs.json"
    with cluster_lock():
        if not summary.exists():
            root.mkdir(exist_ok=True)
            summary.write_text(json.dumps(run_jobs(root)))
    return json.loads(summary.read_text()) | {"root": root}


def run_jobs(root: Path) -> dict[str, Any]:
    """Submit the three workloads at once, preempt one mid-run, wait for all; ids and final states."""
    make_jpeg_folder(root / "images", {"train": 8, "val": 2}, sizes=((24, 24), (20, 28)))
    write_splits(root / "images", root / "data", num_workers=1)

    def config(name: str, epochs: int, **kwargs: Any) -> Path:
        return write_fit_config(root / f"{name}.yaml", root / name, root / "data", epochs, **kwargs)

    two_nodes = ["--nodes=2", "--ntasks-per-node=1"]
    with local_cluster() as env:
        preempted = sbatch([*two_nodes, f"--output={root}/preempted.out", "slurm/fit.sbatch",
                            str(config("preempted", PREEMPT_EPOCHS, step_delay=0.3, validate=False))], env)
        signaller = threading.Thread(target=signal_when_past, args=(preempted, root / "preempted", SIGNAL_AT_STEP, env))
        signaller.start()
        fit = sbatch([*two_nodes, f"--output={root}/fit.out", "slurm/fit.sbatch", str(config("fit", FIT_EPOCHS))], env)
        sweep_list = root / "sweep.txt"
        sweep_list.write_text(f"# two precisions\n{config('w32', 1, validate=False)}\n\n{config('w2a2g6', 1, bits=(2, 2, 6), validate=False)}\n")
        sweep = subprocess.run(
            [str(REPO / "slurm" / "sweep.sh"), f"--output={root}/sweep-%A_%a.out", str(sweep_list)],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        ids = {"fit": fit, "preempted": preempted, "sweep": sweep}
        states = {name: wait_for_job(job, env, JOB_TIMEOUT) for name, job in ids.items()}
        signaller.join()
        ids["test"] = sbatch([f"--output={root}/test.out", "slurm/test.sbatch", str(root / "preempted.yaml"),
                              "--ckpt_path", str(root / "preempted" / "hpc_ckpt_1.ckpt")], env)
        states["test"] = wait_for_job(ids["test"], env, JOB_TIMEOUT)
    return {"states": states, "ids": ids}


def assert_clean_exit(output: str) -> None:
    assert "terminate called without an active exception" not in output
    assert "Traceback (most recent call last)" not in output.replace(NUMBA_FINALIZER_NOISE, "")


# numba's dispatcher finalizer races with ffcv's compile threads at garbage collection and prints
# an ignored KeyError; it does not affect the run.
NUMBA_FINALIZER_NOISE = "Exception ignored in: <finalize object"


def test_fit_sbatch_trains_with_ddp_across_two_nodes_for_the_configured_steps(jobs: dict[str, Any]) -> None:
    run = records(jobs["root"] / "fit")

    assert jobs["states"]["fit"] == {jobs["ids"]["fit"]: "COMPLETED 0:0"}
    assert [(r["global_rank"], r["world_size"]) for r in run] == [(0, 2), (1, 2)]
    assert sorted(r["node"] for r in run) == list(NODES)
    assert [r["end_step"] for r in run] == [FIT_EPOCHS * STEPS_PER_EPOCH[2]] * 2
    output = (jobs["root"] / "fit.out").read_text()
    assert "Starting with 2 processes" in output
    assert_clean_exit(output)


def test_preempted_job_saves_hpc_checkpoint_is_requeued_and_resumes_to_the_same_final_step(jobs: dict[str, Any]) -> None:
    run_dir = jobs["root"] / "preempted"
    first, resumed = [r for r in records(run_dir) if r["restart"] == 0], [r for r in records(run_dir) if r["restart"] == 1]

    assert jobs["states"]["preempted"] == {jobs["ids"]["preempted"]: "COMPLETED 0:0"}
    assert (run_dir / "hpc_ckpt_1.ckpt").is_file()
    assert len(first) == len(resumed) == 2 and all("end_step" not in r for r in first)
    interrupted_at = first[0]["step"]
    assert SIGNAL_AT_STEP <= interrupted_at < PREEMPT_EPOCHS * STEPS_PER_EPOCH[2]
    assert all(SIGNAL_AT_STEP <= r["start_step"] <= interrupted_at + 1 for r in resumed)
    # Uninterrupted, the same run ends at epochs x steps per epoch (as the fit test checks).
    assert [r["end_step"] for r in resumed] == [PREEMPT_EPOCHS * STEPS_PER_EPOCH[2]] * 2
    output = (run_dir.parent / "preempted.out").read_text()
    # The requeue itself shows as the second start's header. Lightning's "Requeued SLURM job" line is
    # not asserted: SLURM may kill the job before Lightning logs it after `scontrol requeue` returns.
    job = jobs["ids"]["preempted"]
    assert f"job {job} restart 0" in output and f"job {job} restart 1" in output
    assert f"Restored all states from the checkpoint at {run_dir}/hpc_ckpt_1.ckpt" in output
    assert_clean_exit(output.split("restart 1")[1])


def test_sweep_runs_one_array_task_per_listed_config(jobs: dict[str, Any]) -> None:
    root, array_id = jobs["root"], jobs["ids"]["sweep"]

    assert jobs["states"]["sweep"] == {f"{array_id}_0": "COMPLETED 0:0", f"{array_id}_1": "COMPLETED 0:0"}
    for task, name in enumerate(["w32", "w2a2g6"]):
        (run,) = records(root / name)
        assert run["world_size"] == 1 and run["end_step"] == STEPS_PER_EPOCH[1]
        output = (root / f"sweep-{array_id}_{task}.out").read_text()
        assert f"{name}.yaml" in output.splitlines()[0]
        assert_clean_exit(output)
    assert "weight_bits: 2" in (root / "w2a2g6" / "config.yaml").read_text()


def test_test_sbatch_evaluates_a_checkpoint(jobs: dict[str, Any]) -> None:
    output = (jobs["root"] / "test.out").read_text()

    assert jobs["states"]["test"] == {jobs["ids"]["test"]: "COMPLETED 0:0"}
    assert "advconf test:" in output and "hpc_ckpt_1.ckpt" in output
    assert re.search(r"test/acc\s+[│|]?\s*[0-9.]+", output)
    assert_clean_exit(output)
