"""``advconf report --wandb``: the report's tables and plots as an offline W&B run under ``--out``."""

from pathlib import Path
from typing import Any

import wandb


def log_report(out: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    # Offline always: the report must never block on a network (``wandb sync`` uploads it later).
    run = wandb.init(project="advconf", job_type="report", name=f"report-{out.name}", dir=str(out), mode="offline")
    try:
        for stem, rows in tables.items():
            columns = list(dict.fromkeys(key for row in rows for key in row))
            # One type per column for W&B: numbers stay numbers, anything mixed becomes text.
            data = [[row.get(c) for c in columns] for row in rows]
            run.log({f"report/{stem}": wandb.Table(columns=columns, data=_one_type_per_column(data))})
        for image in sorted([*out.glob("curves_*.png"), *out.glob("confidence_*.png")]):
            run.log({f"report/{image.stem}": wandb.Image(str(image))})
    finally:
        run.finish()


def _one_type_per_column(data: list[list[Any]]) -> list[list[Any]]:
    if not data:
        return data
    columns = list(zip(*data))
    mixed = [len({type(v) for v in column if v is not None}) > 1 for column in columns]
    return [[str(v) if mixed[i] and v is not None else v for i, v in enumerate(row)] for row in data]
