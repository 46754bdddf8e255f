"""Result files every evaluation leaves in the run directory, and their W&B counterparts.

Files are written to a temporary name in the same directory and renamed into place, so a run that
is killed never leaves a half-written result, and a run that fails never replaces a good one.
"""

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: clusters and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
from lightning.pytorch import LightningModule, Trainer  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402

from advconf.atomic import atomic_open  # noqa: E402


def results_dir(trainer: Trainer) -> Path:
    """``<run dir>/results``; the run directory is the trainer's ``default_root_dir``."""
    return Path(trainer.default_root_dir) / "results"


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_open(path) as f:
        json.dump(_json_safe(payload), f, indent=2, sort_keys=False)
        f.write("\n")


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def save_figure(fig: plt.Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


PICTURE_DPI = 100


def save_picture(fig: plt.Figure, path: Path) -> None:
    """Save without cropping, so the PNG is exactly ``figsize * PICTURE_DPI`` pixels (image grids, weights)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PICTURE_DPI)
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def run_info(trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
    """What every results JSON says about the run: checkpoint, how the model was built, box, time."""
    data = trainer.datamodule
    return {
        "checkpoint": trainer.ckpt_path,
        "model_settings": getattr(pl_module, "settings", {}),
        "box": getattr(data, "input_box", None) if data else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def plot_curves(
    x: Sequence[float], curves: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str
) -> plt.Figure:
    """One line per entry of ``curves`` over the shared ``x`` axis, y in [0, 1]."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, y in curves.items():
        ax.plot(x, y, marker="o", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    # Only rank 0 logs tables and images: other ranks would create empty runs.
    if not trainer.is_global_zero:
        return []
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def log_table_and_curve(trainer: Trainer, name: str, rows: Sequence[dict[str, Any]], x: str, ys: Sequence[str]) -> None:
    """Log ``rows`` as a ``wandb.Table`` and one ``wandb.plot.line`` per column in ``ys``."""
    log_table_and_lines(trainer, name, rows, x, ys)


def log_table_and_lines(
    trainer: Trainer, name: str, rows: Sequence[dict[str, Any]], x: str, ys: Sequence[str], stroke: str | None = None
) -> None:
    """``log_table_and_curve`` with one line per value of the column ``stroke`` (e.g. the offset's sign)."""
    loggers = wandb_loggers(trainer)
    if not loggers or not rows:
        return
    import wandb

    columns = list(rows[0])
    table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in rows])
    for logger in loggers:
        payload: dict[str, Any] = {f"{name}/table": table}
        for y in ys:
            payload[f"{name}/{y}"] = wandb.plot.line(table, x, y, stroke=stroke, title=f"{name}: {y} vs {x}")
        logger.experiment.log(payload)


def log_image(trainer: Trainer, key: str, path: Path) -> None:
    for logger in wandb_loggers(trainer):
        logger.log_image(key=key, images=[str(path)])


def log_image_with_caption(trainer: Trainer, key: str, path: Path, caption: str) -> None:
    for logger in wandb_loggers(trainer):
        logger.log_image(key=key, images=[str(path)], caption=[caption])


def publish(
    trainer: Trainer,
    name: str,
    payload: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    figure: plt.Figure,
    x: str,
    ys: Sequence[str],
    stroke: str | None = None,
) -> Path:
    """Write ``results/<name>.json``, ``.csv`` and ``.png`` and log the table, lines and picture to W&B.

    Returns the results directory.
    """
    out = results_dir(trainer)
    write_json(out / f"{name}.json", payload)
    write_csv(out / f"{name}.csv", rows)
    save_figure(figure, out / f"{name}.png")
    log_table_and_lines(trainer, name, rows, x, ys, stroke)
    log_image(trainer, f"{name}/curve", out / f"{name}.png")
    return out
