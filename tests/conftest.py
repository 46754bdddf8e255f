"""Shared test set-up: one torch thread per worker, W&B offline, and the real Fashion-MNIST files."""

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(1)

IN_CI = os.environ.get("CI", "").lower() == "true"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def require(condition: bool, reason: str) -> None:
    """Skip when an optional component is missing, except under CI=true where it must be installed."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must have this component installed: {reason}")
    pytest.skip(reason)


@pytest.fixture
def fashion_mnist_dir() -> Path:
    require(FASHION_MNIST_DIR.is_dir(), "Debian package dataset-fashion-mnist is not installed")
    return FASHION_MNIST_DIR
