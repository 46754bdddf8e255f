"""`Evaluation`: what every test-time evaluation shares — the Lightning hooks, its name, the valid
input box, per-example records gathered over processes, the results files (JSON/CSV/PNG and W&B)
and the console table. A new evaluation is a subclass with two methods (see docs/architecture.md):

- ``evaluate_batch(pl_module, x, y, index) -> {column: per-example tensor}``: what to record of a
  batch (``index``: the examples' positions in the test set);
- ``report(trainer, pl_module, columns) -> Report``: the files' content from the gathered columns.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from matplotlib.figure import Figure
from torch import Tensor

from advconf.callbacks.records import ExampleRecords, example_order
from advconf.errors import AdvconfError
from advconf.quant import attack_gradients
from advconf.results import log_table, publish, run_info


@dataclass
class Report:
    """An evaluation's results: the JSON payload, the CSV/W&B rows, an optional picture, console lines."""

    payload: dict[str, Any]
    rows: list[dict[str, Any]]
    figure: Figure | None = None
    x: str | None = None  # W&B line plots: x column ...
    ys: list[str] = field(default_factory=list)  # ... and the y columns
    stroke: str | None = None  # one line per value of this column
    crop: bool = True  # False: an image grid saved at its exact size
    lines: list[str] = field(default_factory=list)  # printed to the console
    warnings: list[str] = field(default_factory=list)  # warned about (and printed)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # more W&B tables: <name>/<key>/table


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise AdvconfError(f"an evaluation's name must be a non-empty file name, got {name!r}")
    return name


def data_box(trainer: Trainer) -> tuple[float, float] | None:
    """The valid input range the data module declares (``input_box``; ``None`` = unbounded)."""
    data = trainer.datamodule
    if data is None or not hasattr(data, "input_box"):
        what = "no data module" if data is None else f"the data module {type(data).__name__}"
        raise AdvconfError(
            f"evaluations need the valid input range, but {what} declares an `input_box` "
            "((low, high), or None for unbounded inputs)"
        )
    box = data.input_box
    return None if box is None else (float(box[0]), float(box[1]))


class Evaluation(Callback):
    """Base of the evaluations run at the end of ``advconf test``.

    Per test batch it calls ``evaluate_batch`` (with input gradients available when
    ``needs_gradients``, and DoReFa gradient quantisation off: attacks use 32-bit gradients) and
    records the returned per-example columns with their dataset indices. At the end of the test it
    gathers them over all processes (each example once, in test-set order), asks ``report`` for the
    results and writes ``results/<name>.json``, ``.csv`` and ``.png`` (``advconf.results.publish``).

    Args:
        name: name of the result files and of the W&B keys.
        overwrite: replace ``results/<name>.*`` even when it holds a result of another kind (more
            examples, or a trained checkpoint where this run has none); otherwise such a run writes
            beside it under its own name and says so.
    """

    needs_gradients = True

    def __init__(self, name: str, overwrite: bool = False) -> None:
        self.name = check_name(name)
        self.overwrite = bool(overwrite)
        self.records = ExampleRecords()
        self.box: tuple[float, float] | None = None
        self._loaded: dict[str, Any] | None = None

    # --- what subclasses provide -------------------------------------------------------------------

    def reset(self) -> None:
        """Start of the test epoch: clear any state beyond the records."""

    def evaluate_batch(self, pl_module: LightningModule, x: Tensor, y: Tensor, index: Tensor) -> dict[str, Tensor | None]:
        raise NotImplementedError

    def gather_more(self, pl_module: LightningModule) -> Any:
        """State beyond the records that must be combined over processes (called on every process)."""
        return None

    def report(self, trainer: Trainer, pl_module: LightningModule, columns: dict[str, Tensor], more: Any) -> Report:
        raise NotImplementedError

    # --- Lightning hooks ---------------------------------------------------------------------------

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "test":
            self.box = data_box(trainer)

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._loaded = {"global_step": checkpoint.get("global_step"), "epoch": checkpoint.get("epoch")}

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.records.reset(example_order(trainer))
        self.reset()

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        # Lightning's test loop may run under inference_mode; attacks need input gradients.
        grad_mode = torch.enable_grad() if self.needs_gradients else torch.no_grad()
        with torch.inference_mode(False), grad_mode, attack_gradients(pl_module):
            x, y = batch[0].clone(), batch[1].clone()
            index = self.records.next_indices(len(x))
            self.records.add(index, **self.evaluate_batch(pl_module, x, y, index))

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        columns = self.records.gather(pl_module)  # every process takes part in the gathers
        more = self.gather_more(pl_module)
        if not trainer.is_global_zero:
            return
        with torch.inference_mode(False), attack_gradients(pl_module):
            report = self.report(trainer, pl_module, columns, more)
        payload = {"name": self.name, **report.payload, **run_info(trainer, pl_module, self.box, self._loaded)}
        paths = publish(
            trainer, self.name, payload, report.rows, report.figure, report.x, report.ys, report.stroke,
            crop=report.crop, overwrite=self.overwrite,
        )
        for key, rows in report.tables.items():
            log_table(trainer, f"{self.name}/{key}", rows)
        for message in report.warnings:
            rank_zero_warn(f"{self.name}: {message}")
        print("\n" + "\n".join(report.lines))
        if paths[0].stem != self.name:
            print(f"{self.name}: results/{self.name}.json holds a result of another kind (see README, 'What a run leaves'); "
                  f"this one was written beside it")
        print(f"{self.name}: wrote {', '.join(str(p) for p in paths)}")
