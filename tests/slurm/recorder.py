"""A callback the SLURM test jobs load by class_path: it leaves evidence of how the run went."""

import json
import os
import socket
import time
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer


class RunRecorder(Callback):
    """Writes `<run dir>/ranks/<restart>-<rank>.json` (world size, node, first and last global step)
    and sleeps `step_delay` seconds after each step, so a test can signal the job mid-run."""

    def __init__(self, step_delay: float = 0.0) -> None:
        self.step_delay = step_delay
        self.record: dict = {}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record = {
            "world_size": trainer.world_size,
            "global_rank": trainer.global_rank,
            "node": socket.gethostname(),
            "restart": int(os.environ.get("SLURM_RESTART_COUNT", 0)),
            "start_step": trainer.global_step,
        }
        self._write(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        self.record["step"] = trainer.global_step
        self._write(trainer)
        time.sleep(self.step_delay)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.record["end_step"] = trainer.global_step
        self._write(trainer)

    def _write(self, trainer: Trainer) -> None:
        folder = Path(trainer.default_root_dir) / "ranks"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.record['restart']}-{self.record['global_rank']}.json"
        path.with_suffix(".tmp").write_text(json.dumps(self.record))
        path.with_suffix(".tmp").replace(path)
