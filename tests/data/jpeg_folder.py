"""Small ImageFolder trees of JPEGs for the FFCV / ImageNet tests (also used by the SLURM tests)."""

import gc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

try:
    import ffcv  # noqa: F401

    HAVE_FFCV = True
except ImportError:
    HAVE_FFCV = False


@pytest.fixture(autouse=True)
def collect_ffcv_garbage() -> Iterator[None]:
    """Import into a test module to collect after each test. ffcv's numba functions die in reference
    cycles and numba's finalizer for them raises (and prints) a KeyError; once, such a collection
    inside a late import by pytest coincided with CPython 3.11.7's "AST constructor recursion depth
    mismatch" SystemError. Collecting here runs those finalizers at a quiet moment."""
    yield
    gc.collect()


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Colour gradients plus a bright square: smooth, so JPEG and resampling change few pixel values,
    with different content per channel, so a swapped channel order cannot go unnoticed."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    a, b, c = rng.uniform(0.2, 1.0, 3)
    image = np.stack([a * xx, b * yy, c * (1 - xx) * yy], axis=-1)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top : top + height // 3, left : left + width // 3] = rng.uniform(0.5, 1.0, 3)
    return (image * 255).round().astype(np.uint8)


def make_jpeg_folder(
    root: Path,
    splits: dict[str, int],
    num_classes: int = 3,
    sizes: tuple[tuple[int, int], ...] = ((64, 80), (80, 64), (72, 72)),
    seed: int = 0,
) -> Path:
    """root/<split>/class<k>/<i>.jpg with `splits[split]` images per class; image shapes cycle through `sizes`."""
    rng = np.random.default_rng(seed)
    for split, per_class in splits.items():
        for k in range(num_classes):
            folder = root / split / f"class{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                height, width = sizes[i % len(sizes)]
                Image.fromarray(smooth_image(rng, height, width)).save(folder / f"{i}.jpg", quality=95)
    return root
