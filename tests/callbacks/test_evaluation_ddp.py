"""Evaluation under 2 processes (DDP, gloo, CPU) gives exactly the results of one process.

The test set (201 examples) does not divide by 2, so Lightning's DistributedSampler pads it with a
repeated example: the gathered records must count every example once.
"""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, read_json, run_cli, tiny_spheres_config

COUNTS = ("num_examples", "num_adversarial")


def advconf(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    run = subprocess.run([sys.executable, "-m", "advconf", *map(str, args)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def assert_same_numbers(one, two, path="result"):
    """Counts exactly equal; means equal up to float summation order."""
    if isinstance(one, dict):
        assert set(one) == set(two), path
        for key in one:
            assert_same_numbers(one[key], two[key], f"{path}.{key}")
    elif isinstance(one, list):
        assert len(one) == len(two), path
        for i, (a, b) in enumerate(zip(one, two)):
            assert_same_numbers(a, b, f"{path}[{i}]")
    elif isinstance(one, float) and isinstance(two, float):
        assert two == pytest.approx(one, rel=0, abs=1e-6), path
    else:
        assert one == two, path


@pytest.mark.slow
def test_two_processes_give_the_results_of_one_process_on_a_test_set_that_does_not_divide(tmp_path):
    config = tiny_spheres_config(tmp_path, name="ddp", test_size=201)
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false"])
    run_dir = tmp_path / "checkpoints" / "ddp"
    common = ["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--trainer.logger", "false",
              "--trainer.accelerator", "cpu", "--attack", "pgd", "--attack", "offset",
              # PGD without random start is deterministic per example, whatever the batch it is in
              "--attack.random_start", "false", "--attack.steps", "3", "--attack.masking_examples", "30"]
    advconf(tmp_path, *common, "--trainer.devices", "1")
    one = {name: read_json(run_dir / "results" / f"{name}.json") for name in ("pgd", "offset")}
    for path in (run_dir / "results").glob("*.json"):
        path.rename(path.with_suffix(".one"))
    advconf(tmp_path, *common, "--trainer.devices", "2", "--trainer.strategy", "ddp")
    two = {name: read_json(run_dir / "results" / f"{name}.json") for name in ("pgd", "offset")}
    for name in ("pgd", "offset"):
        assert two[name]["num_examples"] == 201 == one[name]["num_examples"]
        for result in (one[name], two[name]):
            result.pop("created")
        # The masking checks' random references (noise, PGD random starts) depend on how examples are
        # batched; they run on the same 30 first test examples either way.
        masking = [result.pop("masking", {}) for result in (one[name], two[name])]
        assert set(masking[0]) == set(masking[1])
        assert_same_numbers(one[name], two[name], name)
