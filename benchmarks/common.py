"""Shared pieces: interleaved timing, the reference PGD loop, small models and data, the machine."""

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class PixelTestData(LightningDataModule):
    """A test loader of images in [0, 1]: evaluations read the valid input range from the data module."""

    input_box = (0.0, 1.0)

    def __init__(self, loader: DataLoader) -> None:
        super().__init__()
        self.loader = loader

    def test_dataloader(self) -> DataLoader:
        return self.loader


def interleaved(sides: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall time of each side; the sides take turns so machine-load drifts hit all of them."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def plain_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int, seed: int) -> torch.Tensor:
    """A minimal L∞ PGD with random start, as one writes it by hand (the reference for advconf's PGD).

    The random start is drawn like advconf's (a local CPU generator seeded with ``seed``), so both
    give the same result.
    """
    generator = torch.Generator().manual_seed(seed)
    start = (2 * torch.rand(x.shape, generator=generator) - 1).to(x) * eps
    x_adv = torch.min(torch.max(x + start, x - eps), x + eps).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def fashion_mnist(train: bool, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST in [0, 1] when the Debian package is installed; otherwise a learnable stand-in."""
    from advconf.data.mnist import read_idx

    prefix = "train" if train else "t10k"
    if FASHION_MNIST.is_dir():
        x = read_idx(FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz")[:limit].float().div(255).unsqueeze(1)
        y = read_idx(FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz")[:limit].long()
        return x, y
    generator = torch.Generator().manual_seed(0 if train else 1)
    y = torch.randint(0, 10, (limit,), generator=generator)
    templates = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    x = (0.7 * templates[y] + 0.3 * torch.rand(limit, 1, 28, 28, generator=generator)).clamp(0, 1)
    return x, y


def train_quickly(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int = 128) -> nn.Module:
    """A few hundred Adam steps: enough for attack results that are neither all-correct nor all-wrong."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch_size,))
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    return model.eval()


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB, from /proc (Linux)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def machine() -> dict[str, object]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
