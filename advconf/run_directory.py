"""One run, one directory: everything a run writes lives under ``trainer.default_root_dir``.

Checkpoints go to ``<run dir>/ckpt``, loggers (W&B, CSV, TensorBoard) and the saved config to the
run directory itself, results and pictures to ``<run dir>/results``, whatever a config says for the
individual paths, so ``--trainer.default_root_dir DIR`` (and ``RUN_DIR`` in the SLURM scripts)
moves the whole run. A fit never silently mixes two runs in one directory.
"""

import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from advconf.errors import AdvconfError
from advconf.wandb_check import online_problem

CHECKPOINT_DIR = "ckpt"
LOGGERS_WITH_SAVE_DIR = ("WandbLogger", "CSVLogger", "TensorBoardLogger")


def run_directory(trainer_config: Any) -> Path:
    return Path(trainer_config.get("default_root_dir") or os.getcwd())


def confine_to_run_directory(trainer_config: Any) -> Path:
    """Point every ModelCheckpoint's ``dirpath`` and every logger's ``save_dir`` in the (parsed, not yet
    instantiated) trainer config into the run directory, and make sure the directory can be created."""
    root = run_directory(trainer_config)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AdvconfError(f"run directory {root} cannot be created: {error.strerror or error}") from None
    if not os.access(root, os.W_OK):
        raise AdvconfError(f"run directory {root} is not writable")
    for logger in _as_list(trainer_config.get("logger")):
        if _class_name(logger) in LOGGERS_WITH_SAVE_DIR:
            _set(logger.init_args, "save_dir", str(root))
    for callback in _as_list(trainer_config.get("callbacks")):
        if _class_name(callback) == "ModelCheckpoint":
            _set(callback.init_args, "dirpath", str(root / CHECKPOINT_DIR))
    return root


def log_offline_if_wandb_cannot_go_online(trainer_config: Any) -> None:
    """A ``WandbLogger(offline=false)`` that cannot reach W&B (no API key, no network) logs offline
    instead, with one line saying why, rather than blocking for 90 s in ``wandb.init`` or failing
    after the run has started (the offline run is uploaded later with ``wandb sync``)."""
    online = [logger for logger in _as_list(trainer_config.get("logger"))
              if _class_name(logger) == "WandbLogger" and not logger.init_args.get("offline")]
    if not online or os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        return
    problem = online_problem()
    if problem is None:
        return
    for logger in online:
        logger.init_args["offline"] = True
    print(f"advconf: note: W&B cannot log online ({problem}); logging offline under "
          f"{logger.init_args.get('save_dir')}/wandb (upload later with `wandb sync`)", file=sys.stderr)


def check_fit_directory(trainer: Trainer, ckpt_path: str | None) -> None:
    """Refuse to start a fresh fit in a directory that holds another run's checkpoints.

    Resuming (``--ckpt_path``) is fine, and so is an auto-requeued SLURM job: Lightning resumes it from
    the ``hpc_ckpt_*.ckpt`` it saved in the run directory.
    """
    if ckpt_path is not None:
        return
    root = Path(trainer.default_root_dir)
    if any(root.glob("hpc_ckpt_*.ckpt")):
        return
    callback = trainer.checkpoint_callback
    directory = Path(callback.dirpath) if isinstance(callback, ModelCheckpoint) and callback.dirpath else root / CHECKPOINT_DIR
    found = sorted(p.name for p in directory.glob("*.ckpt")) if directory.is_dir() else []
    if found:
        raise AdvconfError(
            f"{root} already holds a run's checkpoints ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''} in "
            f"{directory}); resume it with --ckpt_path last, or start a new run with --trainer.default_root_dir NEW_DIR"
        )


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, list) else [value]


def _class_name(item: Any) -> str | None:
    class_path = item.get("class_path") if hasattr(item, "get") else None
    return class_path.rpartition(".")[2] if isinstance(class_path, str) else None


def _set(init_args: Any, key: str, value: str) -> None:
    given = init_args.get(key)
    if given is not None and Path(given).resolve() != Path(value).resolve():
        print(f"advconf: note: {key} {given} ignored: everything of a run goes under its default_root_dir ({value})", file=sys.stderr)
    init_args[key] = value
