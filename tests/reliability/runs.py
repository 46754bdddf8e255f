"""Tiny spheres runs with advconf's reliability pieces wired in, in-process or as a killable subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from tests.helpers import REPO, tiny_spheres_config


def reliable_config(root: Path, name: str, every_n_train_steps: int = 5, faults: list[dict] = (), **trainer) -> Path:
    """``tiny_spheres_config`` + a ModelCheckpoint saving ``last.ckpt`` every few steps + the given fault injectors."""
    path = tiny_spheres_config(root, name=name)
    config = yaml.safe_load(path.read_text())
    checkpoint = config["trainer"]["callbacks"][0]["init_args"]
    checkpoint.update(every_n_train_steps=every_n_train_steps, monitor=None, save_top_k=0, save_last=True)
    checkpoint.pop("mode", None)
    config["trainer"]["callbacks"] += list(faults)  # FiniteCheck, PreemptionCheckpoint, AtomicCheckpointIO: CLI defaults
    config["trainer"].update(logger=False)  # W&B start-up costs seconds and is not under test here
    config["trainer"].update(trainer)
    config["data"]["class_path"] = "tests.reliability.faults.ResumableSpheres"
    path.write_text(yaml.safe_dump(config))
    return path


def run_dir(root: Path, name: str) -> Path:
    return root / "checkpoints" / name


def advconf_subprocess(root: Path, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "advconf", *map(str, args)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_same_end(ckpt: Path, reference: tuple[int, dict[str, torch.Tensor]]) -> None:
    """The run that wrote ``ckpt`` ended at the reference's step with bit-identical weights."""
    step, expected = reference
    assert global_step(ckpt) == step
    for key, value in weights(ckpt).items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def global_step(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
