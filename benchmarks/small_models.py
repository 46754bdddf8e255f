"""Small models: ``advconf fit`` with a shipped config (its W&B logger, progress bar, checkpoints,
validation, finiteness checks) against a plain PyTorch loop over the same model and in-memory data.

Rows (docs/benchmarks.md says what each plain loop does and does not do):

- the time per optimizer step of the Table 1 logistic regression (``configs/table1_logreg.yaml`` on
  Fashion-MNIST 5 vs 7), the spheres MLP (``configs/spheres.yaml``) and the Table-2 CNN
  (``configs/fashion_vanilla_cnn_fp.yaml``): one ``advconf fit`` in this process, with a plain loop
  taking a turn of as many steps after each of its Lightning batches (``Turns``); steady state
  (medians) and whole run (totals, advconf's validation, checkpoints and epoch ends included);
- a whole 50k-step Table 1 row, start-up included: ``python -m advconf fit`` against
  ``python benchmarks/plain_logreg.py``, as separate processes taking turns.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from advconf.cli import main as advconf_main
from advconf.data import MNISTDataModule, SpheresDataModule
from advconf.models import MLP, VanillaCNN
from benchmarks import plain_logreg

REPO = Path(__file__).resolve().parents[1]
FASHION_5V7 = ["--data.init_args.dataset=fashion_mnist", "--data.init_args.data_dir=/usr/share/datasets/fashion-mnist",
               "--data.init_args.classes=[5, 7]"]


class Turns(Callback):
    """Takes turns with a plain loop inside one ``advconf fit``: once at least ``turn_steps`` optimizer
    steps were taken since the last turn (at the end of a Lightning batch), the plain loop takes as
    many. Both sides are timed by wall clock and by this process's CPU time (which a descheduled
    process does not accrue: on a loaded machine it is the steadier of the two). Turns of a few
    hundred milliseconds keep each side's data and weights warm in the caches for most of its turn.
    ``plain`` (one plain step per call) and ``turn_steps`` are set before the fit."""

    plain: Callable[[], None] | None = None
    turn_steps: int = 1
    last: "Turns | None" = None

    def __init__(self) -> None:
        self.pairs: list[tuple[int, float, float, float, float]] = []  # steps, advconf wall, cpu, plain wall, cpu
        self._clock: tuple[int, float, float] | None = None
        Turns.last = self

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._clock = (trainer.global_step, time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer: Trainer, *args: object) -> None:
        step, wall, cpu = trainer.global_step, time.perf_counter(), time.process_time()
        steps = step - self._clock[0]
        if steps < Turns.turn_steps and step != trainer.max_steps:
            return
        advconf_wall, advconf_cpu = wall - self._clock[1], cpu - self._clock[2]
        for _ in range(steps):
            Turns.plain()
        plain_wall, plain_cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.pairs.append((steps, advconf_wall, advconf_cpu, plain_wall, plain_cpu))
        self._clock = (step, time.perf_counter(), time.process_time())  # the plain turn is not advconf's time

    def ratios(self, skip: int = 1) -> dict[str, float]:
        """Steady state: medians of the per-step times over the turns (the first ``skip`` left out);
        whole run: total over total (advconf's epoch ends, validation, checkpoints included)."""
        pairs = [p for p in self.pairs[skip:] if p[0] > 0]
        per_step = [[p[i] / p[0] for p in pairs] for i in range(1, 5)]
        median = [statistics.median(v) for v in per_step]
        total = [sum(p[i] for p in pairs) for i in range(1, 5)]
        return {
            "advconf_step_ms": 1000 * median[0], "plain_step_ms": 1000 * median[2],
            "ratio": median[0] / median[2], "ratio_cpu": median[1] / median[3],
            "ratio_whole_run": total[0] / total[2], "ratio_whole_run_cpu": total[1] / total[3],
            "turns": len(pairs),
        }


def advconf_fit_taking_turns(plain: Callable[[], None], turn_steps: int, config: str, *overrides: str) -> dict[str, float]:
    """``advconf fit`` in this process with the config's own logger, callbacks and cadence (writing to
    a temporary directory), taking turns of at least ``turn_steps`` steps with ``plain`` steps."""
    Turns.plain, Turns.turn_steps = plain, turn_steps
    with tempfile.TemporaryDirectory(prefix="bench-") as run_dir:
        advconf_main(["fit", "--config", str(REPO / "configs" / config), *overrides,
                      f"--trainer.default_root_dir={run_dir}", f"--trainer.logger.init_args.save_dir={run_dir}",
                      f"--trainer.callbacks.init_args.dirpath={run_dir}/ckpt",  # the last callback: ModelCheckpoint
                      "--trainer.callbacks+=benchmarks.small_models.Turns"])
    return Turns.last.ratios()


def plain_stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float, l2: float,
                  loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy) -> Callable[[], None]:
    """One step per call of a plain loop: seeded shuffle per epoch, Adam, ``loss`` + ``l2`` times the
    sum of the squared conv/linear weights."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    batches: list[torch.Tensor] = []
    epoch = 0
    model.train()

    def step() -> None:
        nonlocal batches, epoch
        if not batches:
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
            batches, epoch = list(order.split(batch_size)), epoch + 1
        batch = batches.pop(0)
        optimizer.zero_grad()
        value = loss(model(x[batch]), y[batch])
        if l2:
            value = value + l2 * sum(w.pow(2).sum() for w in weights)
        value.backward()
        optimizer.step()

    return step


def table1_step(quick: bool) -> list[dict]:
    steps = 3000 if quick else 20_000
    x, y = plain_logreg.sandals_vs_sneakers()
    model = nn.Linear(784, 1, bias=False)
    plain = plain_stepper(model, x, y, 128, 1e-5, 0.025, lambda logits, y: F.binary_cross_entropy_with_logits(logits[:, 0], y))
    result = advconf_fit_taking_turns(plain, 500, "table1_logreg.yaml", *FASHION_5V7, f"--trainer.max_steps={steps}")
    return [{
        "benchmark": f"Table 1 logistic regression step (table1_logreg.yaml: W&B, progress bar, checkpoints, validation; Fashion-MNIST 5v7, {steps} steps)",
        **result, "target": "<= 1.5",
    }]


def table1_row(quick: bool) -> list[dict]:
    """Whole processes, start-up included: ``advconf fit`` against the plain script."""
    steps = 5000 if quick else 50_000
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(REPO)}

    def run(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def advconf() -> float:
        with tempfile.TemporaryDirectory(prefix="bench-row-") as run_dir:
            return run([sys.executable, "-m", "advconf", "fit", "--config", str(REPO / "configs" / "table1_logreg.yaml"), *FASHION_5V7,
                        f"--trainer.max_steps={steps}", f"--trainer.default_root_dir={run_dir}",
                        f"--trainer.logger.init_args.save_dir={run_dir}", f"--trainer.callbacks.init_args.dirpath={run_dir}/ckpt"])

    walls: dict[str, list[float]] = {"plain": [], "advconf": []}
    for _ in range(1 if quick else 2):
        walls["plain"].append(run([sys.executable, str(REPO / "benchmarks" / "plain_logreg.py"), f"--steps={steps}"]))
        walls["advconf"].append(advconf())
    plain, ours = statistics.median(walls["plain"]), statistics.median(walls["advconf"])
    return [{
        "benchmark": f"Table 1 row, {steps} steps, whole process incl. start-up (python -m advconf fit vs python benchmarks/plain_logreg.py), wall s",
        "advconf_s": ours, "plain_s": plain, "ratio": ours / plain, "target": "<= 1.5", "runs": walls,
    }]


def spheres_step(quick: bool) -> list[dict]:
    steps = 200 if quick else 800
    data = SpheresDataModule()  # configs/spheres.yaml's data: 10,000 points, batch 50, opposing quadrants removed
    data.setup("fit")
    torch.manual_seed(0)
    plain = plain_stepper(MLP(2, 2, depth=2, width=1000, batch_norm=True), *data.datasets["train"].tensors, 50, 1e-3, 0.0)
    result = advconf_fit_taking_turns(plain, 20, "spheres.yaml", f"--trainer.max_steps={steps}")
    return [{
        "benchmark": f"Spheres MLP step (spheres.yaml: 2-1000-1000-2 with batch norm, batch 50, W&B, progress bar, checkpoints, validation; {steps} steps)",
        **result, "target": "<= 1.2",
    }]


def cnn_step(quick: bool) -> list[dict]:
    steps = 10 if quick else 25
    data = MNISTDataModule("fashion_mnist", "/usr/share/datasets/fashion-mnist", val_size=5000)
    data.setup("fit")
    torch.manual_seed(0)
    model = VanillaCNN(input_shape=[1, 28, 28], num_classes=10, nf=64, batch_norm=False)
    plain = plain_stepper(model, data.train_set.images.float() / 255, data.train_set.labels, 128, 1e-3, 0.25)
    result = advconf_fit_taking_turns(plain, 1, "fashion_vanilla_cnn_fp.yaml", f"--trainer.max_steps={steps}")
    return [{
        "benchmark": f"Table-2 CNN step (fashion_vanilla_cnn_fp.yaml: VanillaCNN nf=64, batch 128, L2 on every layer, W&B, progress bar, checkpoints; {steps} steps)",
        **result, "target": "<= 1.2",
    }]


def run(quick: bool = False) -> list[dict]:
    # A plain script does not import Lightning, which sets this to make CUDA checks NVML-based; on a
    # machine without NVIDIA's library each Adam step then pays a failed dlopen (advconf avoids it too).
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    load = os.getloadavg()[0]
    rows = table1_step(quick) + spheres_step(quick) + cnn_step(quick) + table1_row(quick)
    for row in rows:
        row["load_average_before"] = load
    return rows
