"""Tiny spheres runs with advconf's reliability pieces wired in: through the CLI (in-process or as a
killable subprocess) or straight on a Trainer (single process, or 2-process DDP via ``ddp_fit``)."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from advconf.data import SpheresDataModule
from advconf.models import MLP
from advconf.module import Classifier
from advconf.reliability import AtomicCheckpointIO, PreemptionCheckpoint
from tests.helpers import REPO, tiny_spheres_config

EPOCHS, BATCHES = 3, 10  # fit_spheres: 10 training batches per epoch (per process), so 30 steps in all
FINAL_FILES = ["epoch=2-step=30.ckpt", "last.ckpt"]  # what fit_spheres leaves in ckpt/


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


def fit_spheres(root: Path, *faults: Callback, ckpt_path: str | None = None, devices: int = 1) -> int | None:
    """Fit a tiny MLP on the spheres data into ``root/ckpt`` (``last.ckpt`` + one per epoch) with the
    CLI's reliability pieces. Returns the exit status of a fit stopped by a signal, None if it finished."""
    seed_everything(0)
    trainer = Trainer(
        max_epochs=EPOCHS, default_root_dir=root, logger=False, enable_progress_bar=False, enable_model_summary=False,
        deterministic=True, accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
        plugins=[AtomicCheckpointIO()], callbacks=[ModelCheckpoint(root / "ckpt", save_last=True), PreemptionCheckpoint(), *faults],
    )
    try:
        trainer.fit(spheres_model(), spheres_data(devices), ckpt_path=ckpt_path)
    except SIGTERMException as stop:
        return stop.code
    return None


def spheres_model() -> Classifier:
    return Classifier(MLP(2, 2, depth=2, width=16), optimizer=functools.partial(torch.optim.Adam, lr=0.01))


def spheres_data(devices: int = 1) -> SpheresDataModule:
    """BATCHES training batches per process; 2 validation and 2 test batches."""
    return SpheresDataModule(train_size=20 * BATCHES * devices, val_size=40, test_size=40, batch_size=20)


def ckpt_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "ckpt").iterdir())
