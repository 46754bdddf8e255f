"""Result files every evaluation leaves in the run directory, and their W&B counterparts.

Files are written to a temporary name in the same directory and renamed into place, so a run that
is killed never leaves a half-written result, and a run that fails never replaces a good one. A
result of a different kind (fewer examples, or an untrained model) never silently replaces an
existing one either: it is written beside it under its own name (``results_stem``).
"""

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from matplotlib.figure import Figure

from advconf.atomic import atomic_open
from advconf.plots import PICTURE_DPI


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


def save_figure(fig: Figure, path: Path, crop: bool = True) -> None:
    """Write ``fig`` as a PNG. ``crop=False`` keeps the figure's exact size (``figsize * PICTURE_DPI``
    pixels: image grids); the default trims the white margin (curves)."""
    buffer = io.BytesIO()
    if crop:
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    else:
        fig.savefig(buffer, format="png", dpi=PICTURE_DPI)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def run_info(
    trainer: Trainer, pl_module: LightningModule, box: tuple[float, float] | None, loaded: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What every results JSON says about the run: the checkpoint (path, and the step and epoch it was
    saved at, from the ``loaded`` checkpoint's metadata), how the model was built, the box the attacks
    used, and the time."""
    loaded = loaded or {}
    return {
        "checkpoint": trainer.ckpt_path,
        "checkpoint_step": loaded.get("global_step") if trainer.ckpt_path else None,
        "checkpoint_epoch": loaded.get("epoch") if trainer.ckpt_path else None,
        "model_settings": getattr(pl_module, "settings", {}),
        "box": list(box) if box is not None else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def results_stem(directory: Path, name: str, payload: dict[str, Any], overwrite: bool = False) -> str:
    """The file name (without suffix) a result goes to: ``name``, unless that would silently replace a
    result of another kind — one of a trained checkpoint by an untrained model's (``name-untrained``),
    or one on more examples by one on fewer (``name-<n>examples``). ``overwrite`` replaces anyway."""
    existing = directory / f"{name}.json"
    if overwrite or not existing.is_file():
        return name
    try:
        old = json.loads(existing.read_text())
    except (OSError, ValueError):
        return name  # not a results file we can read: nothing worth keeping apart from it
    if payload.get("checkpoint") is None and old.get("checkpoint") is not None:
        return f"{name}-untrained"
    n_old, n_new = old.get("num_examples"), payload.get("num_examples")
    if isinstance(n_old, int) and isinstance(n_new, int) and n_new < n_old:
        return f"{name}-{n_new}examples"
    return name


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    # Only rank 0 logs tables and images: other ranks would create empty runs.
    if not trainer.is_global_zero:
        return []
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def log_table(
    trainer: Trainer, name: str, rows: Sequence[dict[str, Any]], x: str | None = None, ys: Sequence[str] = (), stroke: str | None = None
) -> None:
    """Log ``rows`` as ``<name>/table`` and one ``wandb.plot.line`` of each column in ``ys`` against ``x``
    (one line per value of the column ``stroke``, e.g. the offset's sign)."""
    loggers = wandb_loggers(trainer)
    if not loggers or not rows:
        return
    import wandb

    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in rows])
    for logger in loggers:
        payload: dict[str, Any] = {f"{name}/table": table}
        for y in ys:
            payload[f"{name}/{y}"] = wandb.plot.line(table, x, y, stroke=stroke, title=f"{name}: {y} vs {x}")
        logger.experiment.log(payload)


def log_image(trainer: Trainer, key: str, path: Path, caption: str | None = None) -> None:
    for logger in wandb_loggers(trainer):
        logger.log_image(key=key, images=[str(path)], **({"caption": [caption]} if caption else {}))


def publish(
    trainer: Trainer,
    name: str,
    payload: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    figure: Figure | None,
    x: str | None = None,
    ys: Sequence[str] = (),
    stroke: str | None = None,
    crop: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``results/<stem>.json``, ``.csv`` and (given a figure) ``.png``, log the table, lines and
    picture to W&B under ``name``, and return the paths written (``stem``: see ``results_stem``)."""
    out = results_dir(trainer)
    stem = results_stem(out, name, payload, overwrite)
    paths = [out / f"{stem}.json", out / f"{stem}.csv"]
    write_json(paths[0], payload)
    write_csv(paths[1], rows)
    log_table(trainer, name, rows, x, ys, stroke)
    if figure is not None:
        paths.append(out / f"{stem}.png")
        save_figure(figure, paths[2], crop=crop)
        log_image(trainer, f"{name}/{'curve' if crop else 'images'}", paths[2])
    return paths
