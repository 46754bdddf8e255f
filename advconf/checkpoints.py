"""Checks on a checkpoint before any work starts: readable, safe to load, made for this model."""

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advconf.errors import AdvconfError


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load with ``weights_only=True``: a checkpoint never gets to unpickle arbitrary objects."""
    path = Path(path)
    if not path.exists():
        raise AdvconfError(f"checkpoint {path} does not exist")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise AdvconfError(f"checkpoint {path} is not a readable file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle, disallowed globals...
        reason = " ".join(str(error).split())[:200]
        raise AdvconfError(f"checkpoint {path} cannot be loaded (truncated, foreign or unsafe file): {reason}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise AdvconfError(f"checkpoint {path} is not an advconf/Lightning checkpoint (no state_dict)")
    return checkpoint


def check_checkpoint_matches(path: str | os.PathLike, module: nn.Module, checkpoint: dict[str, Any] | None = None) -> None:
    """Refuse a checkpoint whose parameter names or shapes differ from ``module``'s (``checkpoint``:
    the file's content when it was already loaded)."""
    saved = (checkpoint or load_checkpoint(path))["state_dict"]
    current = module.state_dict()
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    shapes = sorted(k for k in set(saved) & set(current) if tuple(saved[k].shape) != tuple(current[k].shape))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        k = shapes[0]
        problems.append(
            f"{len(shapes)} shape mismatches (e.g. {k}: checkpoint {tuple(saved[k].shape)}, model {tuple(current[k].shape)})"
        )
    if problems:
        raise AdvconfError(f"checkpoint {path} was made for a different architecture: {'; '.join(problems)}")
