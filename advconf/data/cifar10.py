"""CIFAR-10 from the python pickles (`cifar-10-batches-py/`)."""

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets

from advconf.data.image import ImageDataModule, Transform
from advconf.errors import AdvconfError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per-image random crop from a zero-padded batch, then random horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n)).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


class ArraysOnly(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only: a data file never gets to run code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a data file has no need of")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One python batch file: N x 3 x 32 x 32 uint8 images and N labels. A damaged file is refused
    with an ``AdvconfError`` that names it and says what is wrong."""
    try:
        with open(path, "rb") as f:
            batch = ArraysOnly(f, encoding="latin1").load()
    except Exception as error:  # truncated (EOFError), damaged (UnpicklingError, ValueError...), unreadable (OSError)
        raise AdvconfError(f"{path} is not a readable CIFAR-10 batch ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict) or not {"data", "labels"} <= set(batch):
        raise AdvconfError(f"{path} is not a CIFAR-10 batch: it has no 'data' and 'labels'")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise AdvconfError(f"{path}: 'data' is {data.dtype} of shape {data.shape}, not N x 3072 bytes (32 x 32 RGB images)")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise AdvconfError(f"{path}: 'labels' has shape {labels.shape}, not {len(data)} integer labels")
    if len(labels) and not 0 <= labels.min() <= labels.max() < len(CLASS_NAMES):
        raise AdvconfError(f"{path}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return torch.from_numpy(data.copy()).view(-1, 3, 32, 32), torch.from_numpy(labels.astype(np.int64))


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10, 3 x 32 x 32 images in [0, 1].

    Args:
        data_dir: folder holding `cifar-10-batches-py/` (torchvision's layout), or that folder itself.
        classes: class subset, relabelled 0..k-1 in the order given.
        val_size: validation examples taken from the training split: a count, or a fraction < 1.
        seed: seed of the train/val split.
        augment: random crop (4 px zero padding) and horizontal flip of training images.
        download: fetch missing files with torchvision (needs network; the archive's MD5 is checked).
    """

    image_shape = (3, 32, 32)
    all_class_names = CLASS_NAMES

    def __init__(
        self,
        data_dir: str = "data/cifar10",
        classes: list[int] | None = None,
        val_size: int | float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = False,
        download: bool = False,
    ) -> None:
        super().__init__(data_dir, classes, val_size, seed, batch_size, num_workers, download)
        self.augment = augment

    @property
    def folder(self) -> Path:
        given = self.data_dir
        return given if (given / TRAIN_FILES[0]).is_file() or given.name == FOLDER else given / FOLDER

    def missing_files(self) -> list[str]:
        return [name for name in TRAIN_FILES + TEST_FILES if not (self.folder / name).is_file()]

    def expected_location(self) -> str:
        return str(self.folder)

    def fetch(self, tmp: Path) -> None:
        datasets.CIFAR10(str(tmp / "torchvision"), download=True)
        (tmp / "torchvision" / FOLDER).replace(tmp / FOLDER)
        shutil.rmtree(tmp / "torchvision")

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [read_batch(self.folder / name) for name in (TRAIN_FILES if train else TEST_FILES)]
        return torch.cat([images for images, _ in batches]), torch.cat([labels for _, labels in batches])

    def train_transform(self) -> Transform | None:
        return random_crop_flip if self.augment else None
