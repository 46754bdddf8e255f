"""The plain-PyTorch reference for paper Table 1: a 784 -> 1 logistic regression (no bias, as the
authors' code) trained by Adam 1e-5 with L2 0.025 * sum(w^2), batches of 128 from tensors in memory.

It does only that: read Fashion-MNIST sandal (5) vs sneaker (7) from the Debian files, keep 11,000
training images, shuffle each epoch with a seeded permutation, and step. No validation, checkpoints,
logging, progress bar, finiteness checks or metrics. It imports torch and numpy only (not Lightning),
so run as a script its start-up is what a hand-written script's is.

    .venv/bin/python benchmarks/plain_logreg.py --steps 50000
"""

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX array (written out here so the script does not import advconf)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def sandals_vs_sneakers(train_size: int = 11_000) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 784) float images in [0, 1] and float labels (1 = sneaker)."""
    images = read_idx(FASHION_MNIST / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST / "train-labels-idx1-ubyte.gz")
    keep = np.isin(labels, (5, 7))
    x = torch.from_numpy(images[keep][:train_size].reshape(-1, 784).astype(np.float32) / 255)
    return x, torch.from_numpy((labels[keep][:train_size] == 7).astype(np.float32))


def train(x: torch.Tensor, y: torch.Tensor, steps: int, every: int = 50, seed: int = 0) -> list[float]:
    """Train for ``steps`` Adam steps; return the clock (perf_counter) after every ``every`` steps."""
    model = nn.Linear(784, 1, bias=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    stamps = [time.perf_counter()]
    step, epoch = 0, 0
    while step < steps:
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        for batch in order.split(128):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x[batch])[:, 0], y[batch]) + 0.025 * model.weight.pow(2).sum()
            loss.backward()
            optimizer.step()
            step += 1
            if step % every == 0:
                stamps.append(time.perf_counter())
            if step == steps:
                break
        epoch += 1
    return stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    train(*sandals_vs_sneakers(), parser.parse_args().steps)


if __name__ == "__main__":
    main()
