"""Images/second of ImageNetDataModule's FFCV loader vs its torchvision ImageFolder loader.

    .venv/bin/python benchmarks/ffcv_loader.py [--images 1024] [--workers 2] [--epochs 3] [--batch-size 64]

All loaders start from the same JPEGs (ImageNet-sized, 500x375 and 375x500, quality 90) and
produce the same training batches: random resized crop to 224 + flip, float32 [0, 1] NCHW, on
`--workers` CPU cores (ffcv threads vs DataLoader worker processes). The .beton files are written
by `advconf data ffcv` in three ways: JPEG at full resolution (the same decoding work as
torchvision), JPEG with the longer side shrunk to 256 (`--max-resolution 256`, the usual FFCV
ImageNet setting), and raw pixels at 256 (`--write-mode raw`: no decoding at all). The loaders take
turns, epoch by epoch, so that machine load drifts hit all alike; the first epoch of each (JIT
compilation, worker start) is not timed. Prints a Markdown table and writes it to
benchmarks/results/ffcv_loader.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from advconf.data.ffcv_writer import write_beton
from advconf.data.imagenet import ImageNetDataModule

SIZES = ((375, 500), (500, 375))
BASELINE = "torchvision ImageFolder + DataLoader"
FFCV_VARIANTS = {  # name -> (write mode, max resolution)
    "FFCV, JPEG, full resolution": ("jpg", None),
    "FFCV, JPEG, max resolution 256": ("jpg", 256),
    "FFCV, raw pixels, max resolution 256": ("raw", 256),
}


def make_jpegs(root: Path, count: int, classes: int = 10) -> None:
    """Smooth colour fields with texture noise: JPEG sizes (~50-100 kB) like photographs'."""
    rng = np.random.default_rng(0)
    for i in range(count):
        height, width = SIZES[i % 2]
        yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
        base = np.stack([xx, yy, 1 - xx * yy], axis=-1) * rng.uniform(120, 230, 3)
        image = np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.jpg", quality=90)


def epoch_rate(loader: object) -> float:
    start, images = time.perf_counter(), 0
    for x, _ in loader:
        images += len(x)
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per loader (after one untimed)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="advconf-ffcv-bench-") as tmp:
        root = Path(tmp)
        make_jpegs(root / "train", args.images)
        common = {"image_size": 224, "batch_size": args.batch_size, "num_workers": args.workers, "num_classes": 10}
        loaders = {BASELINE: ImageNetDataModule(str(root / "train"), str(root / "train"), backend="folder", **common)}
        for i, (name, (mode, resolution)) in enumerate(FFCV_VARIANTS.items()):
            beton = root / f"train{i}.beton"
            write_beton(root / "train", beton, max_resolution=resolution, jpeg_quality=90, num_workers=args.workers, write_mode=mode)
            loaders[name] = ImageNetDataModule(str(beton), str(beton), backend="ffcv", **common)
        iterables = {}
        for name, module in loaders.items():
            module.setup("fit")
            iterables[name] = module.train_dataloader()
            epoch_rate(iterables[name])  # untimed: JIT compilation / worker start
        rates: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(args.epochs):
            for name, loader in iterables.items():
                rates[name].append(epoch_rate(loader))

    base = statistics.median(rates[BASELINE])
    lines = [
        f"Training batches (random resized crop 224 + flip, float32 NCHW) from {args.images} JPEGs "
        f"of 500x375, batch {args.batch_size}, {args.workers} workers, {os.cpu_count()} CPUs visible; "
        f"median of {args.epochs} epochs.",
        "",
        "| loader | images/s (median) | epochs (images/s) | speed-up |",
        "|---|---|---|---|",
    ]
    for name, values in rates.items():
        median = statistics.median(values)
        epochs = ", ".join(f"{v:.0f}" for v in values)
        lines.append(f"| {name} | {median:.0f} | {epochs} | {median / base:.2f}x |")
    lines += ["", f"Command: `.venv/bin/python {' '.join(['benchmarks/ffcv_loader.py', *sys.argv[1:]])}`"]
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results" / "ffcv_loader.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")


if __name__ == "__main__":
    main()
